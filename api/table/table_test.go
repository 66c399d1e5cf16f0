package table_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/api/table"
	"github.com/bosun-dev/bosun/store/storetest"
)

var now = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

func TestAge(t *testing.T) {
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{0, "0s"},
		{5*time.Minute + 3*time.Second, "5m3s"},
		{4 * time.Hour, "4h"},
		{3 * 24 * time.Hour, "3d"},
		{-time.Minute, "<invalid>"},
	}
	for _, tc := range tests {
		if got := table.Age(metav1.NewTime(now.Add(-tc.ago)), now); got != tc.want {
			t.Errorf("Age(%v) = %q, want %q", tc.ago, got, tc.want)
		}
	}
	if got := table.Age(metav1.Time{}, now); got != "<unknown>" {
		t.Errorf("Age(zero) = %q", got)
	}
}

// columns prints a table's header as kubectl -o wide would, wide columns
// marked with a "+".
func columns(t table.Table) string {
	var names []string
	for _, c := range t.Columns {
		if c.Wide {
			names = append(names, "+"+c.Name)
		} else {
			names = append(names, c.Name)
		}
	}
	return strings.Join(names, " ")
}

func TestForColumns(t *testing.T) {
	tests := []struct {
		name     string
		resource string
		all      bool
		want     string
	}{
		{"git kind", "deployments", false, "NAME READY UP-TO-DATE AVAILABLE AGE COMMIT +CONTAINERS +IMAGES +SELECTOR +SOURCE"},
		{"git kind, all namespaces", "deployments", true, "NAMESPACE NAME READY UP-TO-DATE AVAILABLE AGE COMMIT +CONTAINERS +IMAGES +SELECTOR +SOURCE"},
		{"columns after AGE", "nodes", false, "NAME STATUS ROLES AGE VERSION +INTERNAL-IP +OS-IMAGE +CONTAINER-RUNTIME"},
		{"cluster-scoped, all namespaces", "namespaces", true, "NAME STATUS AGE COMMIT +SOURCE"},
		{"not from Git", "endpoints", false, "NAME ENDPOINTS AGE"},
		{"kind without own columns", "leases", true, "NAMESPACE NAME AGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := table.For(storetest.Resource(t, tt.resource), nil, table.Options{Now: now, AllNamespaces: tt.all})
			if c := columns(got); c != tt.want {
				t.Errorf("columns = %q\nwant      %q", c, tt.want)
			}
			if len(got.Rows) != 0 {
				t.Errorf("rows of no objects: %v", got.Rows)
			}
		})
	}
}

func TestForRows(t *testing.T) {
	created := metav1.NewTime(now.Add(-90 * time.Second))
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	deleted := metav1.NewTime(now)
	pod := func(mutate func(p *corev1.Pod)) api.Object {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", CreationTimestamp: created},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "log"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", Ready: true, State: running, RestartCount: 2},
				{Name: "log", Ready: true, State: running},
			}},
		}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	tests := []struct {
		name     string
		resource string
		obj      api.Object
		want     []string
	}{
		{"running pod", "pods", pod(nil), []string{"web-1", "2/2", "Running", "2", "90s", "<none>", "<none>", "<none>", "<none>"}},
		{"crash-looping container", "pods", pod(func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", RestartCount: 5,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}
		}), []string{"web-1", "1/2", "CrashLoopBackOff", "5", "90s", "<none>", "<none>", "<none>", "<none>"}},
		{"failing init container", "pods", pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", RestartCount: 1,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}}}
			p.Status.ContainerStatuses = nil
		}), []string{"web-1", "0/2", "Init:ExitCode:3", "1", "90s", "<none>", "<none>", "<none>", "<none>"}},
		{"second of two init containers runs", "pods", pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}, {Name: "seed"}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}},
				{Name: "seed", State: running}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
				{Name: "log", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
		}), []string{"web-1", "0/2", "Init:1/2", "0", "90s", "<none>", "<none>", "<none>", "<none>"}},
		{"init container crash-looping", "pods", pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", RestartCount: 4,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
			p.Status.ContainerStatuses = nil
		}), []string{"web-1", "0/2", "Init:CrashLoopBackOff", "4", "90s", "<none>", "<none>", "<none>", "<none>"}},
		{"init container failed", "pods", pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}}
			p.Status.ContainerStatuses = nil
		}), []string{"web-1", "0/2", "Init:Error", "0", "90s", "<none>", "<none>", "<none>", "<none>"}},
		{"initialized, app containers being created", "pods", pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
				{Name: "log", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
		}), []string{"web-1", "0/2", "PodInitializing", "0", "90s", "<none>", "<none>", "<none>", "<none>"}},
		{"sidecar started and ready counts", "pods", pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", RestartCount: 1, Ready: true,
				Started: ptr.To(true), State: running}}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}
		}), []string{"web-1", "3/3", "Running", "3", "90s", "<none>", "<none>", "<none>", "<none>"}},
		{"sidecar not started yet", "pods", pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", Started: ptr.To(false), State: running}}
			p.Status.ContainerStatuses = nil
		}), []string{"web-1", "0/3", "Init:0/1", "0", "90s", "<none>", "<none>", "<none>", "<none>"}},
		{"deleted pod already failed", "pods", pod(func(p *corev1.Pod) {
			p.DeletionTimestamp = &deleted
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"}}},
				{Name: "log", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143, Reason: "Error"}}}}
		}), []string{"web-1", "0/2", "Error", "0", "90s", "<none>", "<none>", "<none>", "<none>"}},
		{"deleted pod", "pods", pod(func(p *corev1.Pod) { p.DeletionTimestamp = &deleted }),
			[]string{"web-1", "2/2", "Terminating", "2", "90s", "<none>", "<none>", "<none>", "<none>"}},
		{"pod from Git on a node", "pods", pod(func(p *corev1.Pod) {
			p.Spec.NodeName, p.Status.PodIP = "node-1", "10.244.0.7"
			p.Annotations = map[string]string{api.AnnotationCommit: "0123456789abcdef", api.AnnotationSource: "apps/web.yaml:3"}
		}), []string{"web-1", "2/2", "Running", "2", "90s", "01234567", "10.244.0.7", "node-1", "apps/web.yaml:3"}},
		{"endpoint slice", "endpointslices", &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "shop", Name: "web-abcde", CreationTimestamp: created},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Port: ptr.To[int32](8080)}, {Port: ptr.To[int32](9090)}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.7"}}, {Addresses: []string{"10.244.1.3"}},
				{Addresses: []string{"10.244.2.9"}}, {Addresses: []string{"10.244.3.1"}}},
		}, []string{"web-abcde", "IPv4", "8080,9090", "10.244.0.7,10.244.1.3,10.244.2.9 + 1 more...", "90s"}},
		{"empty endpoint slice", "endpointslices", &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "shop", Name: "web-empty", CreationTimestamp: created},
			AddressType: discoveryv1.AddressTypeIPv4,
		}, []string{"web-empty", "IPv4", "<unset>", "<unset>", "90s"}},
		{"event", "events", &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "shop", Name: "web-1.18e3", CreationTimestamp: created},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1", FieldPath: "spec.containers{app}"},
			Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container app",
			Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
			FirstTimestamp: created, LastTimestamp: metav1.NewTime(now.Add(-5 * time.Second)), Count: 4,
		}, []string{"5s", "Warning", "BackOff", "pod/web-1", "Back-off restarting failed container app",
			"spec.containers{app}", "kubelet, node-1", "90s", "4", "web-1.18e3"}},
		{"pod disruption budget from Git", "poddisruptionbudgets", &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", CreationTimestamp: created,
				Annotations: map[string]string{api.AnnotationCommit: "0123456789abcdef", api.AnnotationSource: "apps/pdb.yaml:1"}},
			Spec:   policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromString("25%"))},
			Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1},
		}, []string{"web", "N/A", "25%", "1", "90s", "01234567", "apps/pdb.yaml:1"}},
		{"unexpected Go type", "deployments", &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "odd", CreationTimestamp: created}},
			[]string{"odd", "<unknown>", "<unknown>", "<unknown>", "90s", "<none>", "<unknown>", "<unknown>", "<unknown>", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := table.For(storetest.Resource(t, tt.resource), []api.Object{tt.obj}, table.Options{Now: now})
			if len(got.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(got.Rows))
			}
			if !reflect.DeepEqual(got.Rows[0], tt.want) {
				t.Errorf("row = %q\nwant  %q", got.Rows[0], tt.want)
			}
			if len(got.Rows[0]) != len(got.Columns) {
				t.Errorf("%d cells for %d columns", len(got.Rows[0]), len(got.Columns))
			}
		})
	}
}
