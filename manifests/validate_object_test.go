package manifests

import (
	"maps"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestValidateObject checks that the per-object errors sync reports are
// returned without a file, and that warnings are not.
func TestValidateObject(t *testing.T) {
	pod := func(mutate func(*corev1.Pod)) Obj {
		p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "p"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}, {Name: "side", Image: "busybox"}}}}
		mutate(p)
		SetDefaults(p)
		return p
	}
	tests := []struct {
		name string
		obj  Obj
		want []string // "field: message prefix"; nil: valid
	}{
		{"valid pod", pod(func(*corev1.Pod) {}), nil},
		{"warning only (lifecycle hook is ignored)", pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		}), nil},
		{"bad image", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "NGINX:::bad image@@" }),
			[]string{"spec.containers[0].image: Invalid value: \"NGINX:::bad image@@\": not a valid image reference: invalid reference format"}},
		{"duplicate hostPort", pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
			p.Spec.Containers[1].Ports = []corev1.ContainerPort{{ContainerPort: 81, HostPort: 8080}}
		}), []string{`spec.containers[1].ports[0].hostPort: Invalid value: 8080: hostPort 8080/TCP of container "side" is already used by container "app"`}},
		{"same hostPort, other protocol", pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 53, HostPort: 53, Protocol: corev1.ProtocolUDP}}
			p.Spec.Containers[1].Ports = []corev1.ContainerPort{{ContainerPort: 53, HostPort: 53}}
		}), nil},
		{"unsupported field", pod(func(p *corev1.Pod) { p.Spec.HostNetwork = true; p.Spec.Containers = p.Spec.Containers[:1] }),
			[]string{"spec.hostNetwork: Forbidden: is not supported by bosun yet"}},
		{"namespace on a Namespace", func() Obj {
			ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "default"}}
			SetDefaults(ns)
			return ns
		}(), []string{"metadata.namespace: Forbidden: not allowed on a cluster-scoped kind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := ValidateObject(tt.obj)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), errs)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want prefix %q", i, errs[i].Error(), w)
				}
			}
		})
	}
}

// TestValidateServiceCIDR checks the service CIDR check the API shares.
func TestValidateServiceCIDR(t *testing.T) {
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")}
	tests := []struct {
		name      string
		clusterIP string
		cidrs     []netip.Prefix
		want      string
	}{
		{"inside", "10.96.3.4", cidrs, ""},
		{"outside", "8.8.8.8", cidrs, "spec.clusterIP: Invalid value: \"8.8.8.8\": clusterIP 8.8.8.8 is outside the service CIDR 10.96.0.0/16"},
		{"headless", "None", cidrs, ""},
		{"not checked without CIDRs", "8.8.8.8", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: tt.clusterIP}}
			errs := ValidateServiceCIDR(svc, tt.cidrs)
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Errorf("got %v, want no error", errs)
			case tt.want != "" && (len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tt.want)):
				t.Errorf("got %v, want one error starting %q", errs, tt.want)
			}
		})
	}
}

// TestLimitHidesCrossSetWarnings checks that a tree cut short by a limit
// reports the limit and no warning computed from the part that was read.
func TestLimitHidesCrossSetWarnings(t *testing.T) {
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c%d\n  namespace: shop\n"
	fsys := fstest.MapFS{}
	for i := range 20 {
		fsys[strings.Repeat("a", i+1)+".yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(cm, "%d", strings.Repeat("x", i+1), 1))}
	}
	fsys["zz-namespace.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n")}
	tests := []struct {
		name   string
		limits Limits
	}{
		{"documents", Limits{MaxDocuments: 10}},
		{"tree size", Limits{MaxTotalBytes: 600}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Load(fsys, Options{Limits: tt.limits, Live: &LiveState{}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Problems) != 1 || res.Problems[0].Warning {
				t.Errorf("want exactly the limit's error, got %d problems:\n%s", len(res.Problems), res.Problems)
			}
		})
	}
	res, err := Load(fsys, Options{})
	if err != nil || len(res.Problems) != 0 {
		t.Errorf("the whole tree: %v, problems:\n%s", err, res.Problems)
	}
}

// TestValidateObjectCreatedJob checks a Job as the API holds it once
// created (uid, generated selector and labels) against one from Git.
func TestValidateObjectCreatedJob(t *testing.T) {
	const uid = "5f1c7e0a-0000-4000-8000-000000000001"
	gen := map[string]string{batchv1.ControllerUidLabel: uid, batchv1.JobNameLabel: "pi", "controller-uid": uid, "job-name": "pi"}
	job := func(mutate func(j *batchv1.Job)) *batchv1.Job {
		j := &batchv1.Job{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pi", UID: uid},
			Spec: batchv1.JobSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: uid}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(gen)},
					Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
						Containers: []corev1.Container{{Name: "pi", Image: "perl:5.34.0"}}},
				},
			},
		}
		mutate(j)
		SetDefaults(j)
		return j
	}
	tests := []struct {
		name string
		job  *batchv1.Job
		want string // "" for no error
	}{
		{"created job", job(func(*batchv1.Job) {}), ""},
		{"selector of another job", job(func(j *batchv1.Job) { j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = "other" }), "spec.selector: Invalid value"},
		{"label missing", job(func(j *batchv1.Job) { delete(j.Spec.Template.Labels, "job-name") }), "spec.template.metadata.labels[job-name]: Required value"},
		{"from Git: no uid", job(func(j *batchv1.Job) { j.UID = "" }), "`selector` not auto-generated: remove it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := ValidateObject(tt.job)
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Errorf("errors: %v", errs)
			case tt.want != "" && !strings.Contains(errs.ToAggregate().Error(), tt.want):
				t.Errorf("errors = %v, want one containing %q", errs, tt.want)
			}
		})
	}
}
