package quota

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store/storetest"
)

func meta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: "ns", Name: name} }

func TestControllerStatus(t *testing.T) {
	st := storetest.Start(t)
	ctx := t.Context()
	now := time.Now()
	running := named(podWith(ctr("app", rl("cpu", "500m", "memory", "256Mi"), rl("memory", "1Gi"))), "running")
	succeeded := named(podWith(ctr("app", rl("cpu", "1"), nil)), "succeeded")
	stuck := named(podWith(ctr("app", rl("cpu", "2"), nil)), "stuck") // terminating for an hour on a lost node
	stuck.DeletionTimestamp, stuck.DeletionGracePeriodSeconds = &metav1.Time{Time: now.Add(-time.Hour)}, new(int64(30))
	stopping := named(podWith(ctr("app", rl("cpu", "100m"), nil)), "stopping") // still within its grace period
	stopping.DeletionTimestamp, stopping.DeletionGracePeriodSeconds = &metav1.Time{Time: now.Add(time.Hour)}, new(int64(30))
	job := named(podWith(corev1.Container{Name: "app"}), "job")
	job.Spec.ActiveDeadlineSeconds = new(int64(60))
	nodePort := &corev1.Service{ObjectMeta: meta("np"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
		Ports: []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 81}}}}
	clusterIP := &corev1.Service{ObjectMeta: meta("cip"), Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	gold := "gold"
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: meta("data"), Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &gold,
		Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "3Gi")}}}
	objs := []api.Object{running, succeeded, stuck, stopping, job, nodePort, clusterIP, pvc,
		&corev1.ConfigMap{ObjectMeta: meta("c1")}, &corev1.ConfigMap{ObjectMeta: meta("c2")}, &corev1.Secret{ObjectMeta: meta("s1")},
		&appsv1.Deployment{ObjectMeta: meta("web")},
		rq("all", rl("pods", "10", "count/pods", "10", "cpu", "10", "requests.cpu", "10", "requests.memory", "10Gi", "limits.memory", "10Gi",
			"services", "5", "services.nodeports", "5", "configmaps", "5", "secrets", "5", "persistentvolumeclaims", "5",
			"requests.storage", "10Gi", "gold.storageclass.storage.k8s.io/requests.storage", "5Gi", "count/deployments.apps", "5",
			"count/statefulsets.apps", "5", "example.com/unknown", "1")),
		rq("terminating", rl("pods", "5", "services", "5"), corev1.ResourceQuotaScopeTerminating),
		rq("best-effort", rl("pods", "5"), corev1.ResourceQuotaScopeBestEffort),
	}
	priority := rq("priority", rl("pods", "5"))
	priority.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
		{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}
	objs = append(objs, priority)
	for _, o := range objs {
		if err := st.Create(ctx, o); err != nil {
			t.Fatalf("create %s: %v", o.GetName(), err)
		}
	}
	storetest.Modify(t, st, "ns", "succeeded", &corev1.Pod{}, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })

	inf := cache.NewInformers(st, storetest.Logger(t))
	c := New(Config{Writer: st, Informers: inf, Recorder: eventstest.Recorder(t, st, Name), Logger: storetest.Logger(t)})
	inf.Start(ctx)
	testutil.Start(t, c.Run)

	want := map[string]corev1.ResourceList{
		"all": rl("pods", "3", "count/pods", "5", "cpu", "600m", "requests.cpu", "600m", "requests.memory", "256Mi", "limits.memory", "1Gi",
			"services", "2", "services.nodeports", "2", "configmaps", "2", "secrets", "1", "persistentvolumeclaims", "1",
			"requests.storage", "3Gi", "gold.storageclass.storage.k8s.io/requests.storage", "3Gi", "count/deployments.apps", "1",
			"count/statefulsets.apps", "0", "example.com/unknown", "0"),
		"terminating": rl("pods", "1", "services", "0"), // a scoped quota counts pods only
		"best-effort": rl("pods", "1"),
	}
	checkUsed := func() string {
		for name, used := range want {
			var q corev1.ResourceQuota
			if err := st.Get(ctx, "ns", name, &q); err != nil {
				return err.Error()
			}
			if !equal(q.Status.Used, used) || !equal(q.Status.Hard, q.Spec.Hard) {
				return fmt.Sprintf("quota %s: used %v hard %v, want used %v", name, q.Status.Used, q.Status.Hard, used)
			}
		}
		return ""
	}
	testutil.EventuallyNoDiff(t, 10*time.Second, "the quotas' status", checkUsed)

	// A new pod, and a pod turning terminal, move the counts.
	if err := st.Create(ctx, named(podWith(ctr("app", rl("cpu", "1"), nil)), "new")); err != nil {
		t.Fatal(err)
	}
	storetest.Modify(t, st, "ns", "running", &corev1.Pod{}, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })
	want["all"][corev1.ResourcePods] = rl("x", "3")["x"]
	want["all"][CountPods] = rl("x", "6")["x"]
	want["all"][corev1.ResourceCPU] = rl("x", "1100m")["x"]
	want["all"][corev1.ResourceRequestsCPU] = rl("x", "1100m")["x"]
	want["all"][corev1.ResourceRequestsMemory] = rl("x", "0")["x"]
	want["all"][corev1.ResourceLimitsMemory] = rl("x", "0")["x"]
	testutil.EventuallyNoDiff(t, 10*time.Second, "the quotas' status after changes", checkUsed)

	testutil.EventuallyNoDiff(t, 10*time.Second, "the unsupported scope's Warning Event", func() string {
		evs := eventstest.Find(t, st, "ns", "priority", ReasonUnsupportedScope)
		if len(evs) == 0 {
			return "no event"
		}
		if want := "resourcequota ns/priority: scope PriorityClass is not supported"; evs[0].Message[:len(want)] != want {
			return "message " + evs[0].Message
		}
		return ""
	})
	var p corev1.ResourceQuota
	if err := st.Get(ctx, "ns", "priority", &p); err != nil || p.Status.Used != nil {
		t.Errorf("the PriorityClass quota got a status: %v %v", p.Status, err)
	}
}

// TestControllerTerminatingPodExpires: a pod terminating past its grace
// period stops counting without any change to it.
func TestControllerTerminatingPodExpires(t *testing.T) {
	st := storetest.Start(t)
	ctx := t.Context()
	stuck := named(podWith(ctr("app", rl("cpu", "1"), nil)), "stuck")
	stuck.DeletionTimestamp, stuck.DeletionGracePeriodSeconds = &metav1.Time{Time: time.Now().Add(3 * time.Second)}, new(int64(2))
	for _, o := range []api.Object{stuck, rq("compute", rl("pods", "5", "requests.cpu", "5"))} {
		if err := st.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	inf := cache.NewInformers(st, storetest.Logger(t))
	c := New(Config{Writer: st, Informers: inf, Logger: storetest.Logger(t)})
	inf.Start(ctx)
	testutil.Start(t, c.Run)
	used := func(want corev1.ResourceList) func() string {
		return func() string {
			var q corev1.ResourceQuota
			if err := st.Get(ctx, "ns", "compute", &q); err != nil {
				return err.Error()
			}
			if !equal(q.Status.Used, want) {
				return fmt.Sprintf("used %v, want %v", prettyPrint(q.Status.Used), prettyPrint(want))
			}
			return ""
		}
	}
	testutil.EventuallyNoDiff(t, 10*time.Second, "the terminating pod counted", used(rl("pods", "1", "requests.cpu", "1")))
	testutil.EventuallyNoDiff(t, 15*time.Second, "the pod past its grace period not counted", used(rl("pods", "0", "requests.cpu", "0")))
}
