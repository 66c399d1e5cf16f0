package manifests

import (
	"os"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// loadGood loads testdata/good and returns its objects by ID.
func loadGood(t *testing.T) map[string]Obj {
	t.Helper()
	res, err := Load(os.DirFS("testdata/good"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ps := withoutPlainSecrets(res.Problems); len(ps) > 0 {
		t.Fatalf("unexpected problems:\n%s", ps)
	}
	out := map[string]Obj{}
	for _, o := range res.Objects {
		out[o.ID().String()] = o.Obj
	}
	return out
}

func TestDefaults(t *testing.T) {
	objs := loadGood(t)

	d := objs["Deployment shop/web"].(*appsv1.Deployment)
	if d.APIVersion != "apps/v1" || d.Kind != "Deployment" {
		t.Errorf("TypeMeta = %v", d.TypeMeta)
	}
	s := d.Spec
	checks := []struct {
		name      string
		got, want any
	}{
		{"deployment replicas", *s.Replicas, int32(1)},
		{"strategy", s.Strategy.Type, appsv1.RollingUpdateDeploymentStrategyType},
		{"maxSurge", *s.Strategy.RollingUpdate.MaxSurge, intstr.FromString("25%")},
		{"maxUnavailable", *s.Strategy.RollingUpdate.MaxUnavailable, intstr.FromString("25%")},
		{"revisionHistoryLimit", *s.RevisionHistoryLimit, int32(10)},
		{"progressDeadlineSeconds", *s.ProgressDeadlineSeconds, int32(600)},
		{"restartPolicy", s.Template.Spec.RestartPolicy, corev1.RestartPolicyAlways},
		{"dnsPolicy", s.Template.Spec.DNSPolicy, corev1.DNSClusterFirst},
		{"terminationGracePeriodSeconds", *s.Template.Spec.TerminationGracePeriodSeconds, int64(30)},
		{"schedulerName", s.Template.Spec.SchedulerName, "default-scheduler"},
		{"securityContext set", s.Template.Spec.SecurityContext != nil, true},
		{"untagged image pulls Always", s.Template.Spec.Containers[0].ImagePullPolicy, corev1.PullAlways},
		{"terminationMessagePath", s.Template.Spec.Containers[0].TerminationMessagePath, "/dev/termination-log"},
		{"terminationMessagePolicy", s.Template.Spec.Containers[0].TerminationMessagePolicy, corev1.TerminationMessageReadFile},
		{"container port protocol", s.Template.Spec.Containers[0].Ports[0].Protocol, corev1.ProtocolTCP},
		{"fieldRef apiVersion", s.Template.Spec.Containers[0].Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		{"probe period", s.Template.Spec.Containers[0].LivenessProbe.PeriodSeconds, int32(10)},
		{"probe timeout", s.Template.Spec.Containers[0].LivenessProbe.TimeoutSeconds, int32(1)},
		{"probe success", s.Template.Spec.Containers[0].LivenessProbe.SuccessThreshold, int32(1)},
		{"probe failure", s.Template.Spec.Containers[0].LivenessProbe.FailureThreshold, int32(3)},
		{"httpGet path", s.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Path, "/"},
		{"httpGet scheme", s.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Scheme, corev1.URISchemeHTTP},
		{"template requests not copied from limits", s.Template.Spec.Containers[0].Resources.Requests.Cpu().String(), "100m"},
		{"secret volume defaultMode", *s.Template.Spec.Volumes[0].Secret.DefaultMode, int32(0o644)},
		{"volume without source is emptyDir", s.Template.Spec.Volumes[1].EmptyDir != nil, true},
		{"alias labels", d.Spec.Template.Labels["app"], "web"},
	}

	svc := objs["Service shop/web"].(*corev1.Service)
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{"service type kept", svc.Spec.Type, corev1.ServiceTypeNodePort},
		{"sessionAffinity", svc.Spec.SessionAffinity, corev1.ServiceAffinityNone},
		{"port protocol", svc.Spec.Ports[0].Protocol, corev1.ProtocolTCP},
		{"named targetPort kept", svc.Spec.Ports[0].TargetPort, intstr.FromString("http")},
		{"externalTrafficPolicy", svc.Spec.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster},
		{"internalTrafficPolicy", *svc.Spec.InternalTrafficPolicy, corev1.ServiceInternalTrafficPolicyCluster},
	}...)

	headless := objs["Service default/legacy"].(*corev1.Service)
	checks = append(checks, struct {
		name      string
		got, want any
	}{"headless type", headless.Spec.Type, corev1.ServiceTypeClusterIP})

	rc := objs["ReplicationController default/legacy"].(*corev1.ReplicationController)
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{"rc namespace", rc.Namespace, "default"},
		{"rc selector from template", rc.Spec.Selector["app"], "legacy"},
		{"rc labels from template", rc.Labels["app"], "legacy"},
		{"rc replicas kept", *rc.Spec.Replicas, int32(2)},
	}...)

	rs := objs["ReplicaSet kube-system/rs"].(*appsv1.ReplicaSet)
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{"rs replicas", *rs.Spec.Replicas, int32(1)},
		{"digest image pulls IfNotPresent", rs.Spec.Template.Spec.Containers[0].ImagePullPolicy, corev1.PullIfNotPresent},
	}...)

	pod := objs["Pod default/single"].(*corev1.Pod)
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{":latest pulls Always", pod.Spec.Containers[0].ImagePullPolicy, corev1.PullAlways},
		{"restartPolicy kept", pod.Spec.RestartPolicy, corev1.RestartPolicyOnFailure},
		{"pod requests from limits", pod.Spec.Containers[0].Resources.Requests.Memory().String(), "32Mi"},
		{"enableServiceLinks", *pod.Spec.EnableServiceLinks, true},
	}...)

	sec := objs["Secret shop/web-secret"].(*corev1.Secret)
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{"secret type", sec.Type, corev1.SecretTypeOpaque},
		{"stringData overrides data", string(sec.Data["token"]), "plain"},
		{"stringData merged", string(sec.Data["password"]), "hunter2"},
		{"stringData cleared", len(sec.StringData), 0},
	}...)

	ns := objs["Namespace shop"].(*corev1.Namespace)
	checks = append(checks, struct {
		name      string
		got, want any
	}{"namespace name label", ns.Labels[corev1.LabelMetadataName], "shop"})

	cm := objs["ConfigMap default/from-json"].(*corev1.ConfigMap)
	checks = append(checks, struct {
		name      string
		got, want any
	}{"json list item", cm.Data["a"], "b"})

	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"registry:5000/nginx", corev1.PullAlways},
		{"registry:5000/nginx:1.0", corev1.PullIfNotPresent},
		{"nginx@sha256:abc", corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			if got := defaultPullPolicy(tt.image); got != tt.want {
				t.Errorf("defaultPullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
			}
		})
	}
}

func TestServiceTargetPortDefault(t *testing.T) {
	objs, ps := Decode("svc.yaml", []byte("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  sessionAffinity: ClientIP\n  ports:\n  - port: 8080\n"), Limits{})
	if len(ps) > 0 || len(objs) != 1 {
		t.Fatalf("objs=%d problems:\n%s", len(objs), ps)
	}
	svc := objs[0].Obj.(*corev1.Service)
	if svc.Spec.Ports[0].TargetPort != intstr.FromInt32(8080) {
		t.Errorf("targetPort = %v, want 8080", svc.Spec.Ports[0].TargetPort)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("type = %s", svc.Spec.Type)
	}
	if got := *svc.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds; got != 10800 {
		t.Errorf("ClientIP timeout = %d, want 10800", got)
	}
}
