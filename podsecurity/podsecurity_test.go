package podsecurity

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pod returns a pod with one container "c", changed by the options.
func pod(opts ...func(*corev1.PodSpec)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}
	for _, o := range opts {
		o(&p.Spec)
	}
	return p
}

func privileged(s *corev1.PodSpec) {
	s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: new(true)}
}

func hostPath(s *corev1.PodSpec) {
	s.Volumes = append(s.Volumes, corev1.Volume{Name: "root",
		VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
}

func hostNetwork(s *corev1.PodSpec) { s.HostNetwork = true }

// restrictedOK makes the pod meet the restricted level.
func restrictedOK(s *corev1.PodSpec) {
	s.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: new(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	s.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: new(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

const restrictedPlain = `allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
	`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
	`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
	`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`

func TestCheck(t *testing.T) {
	fullyPrivileged := map[string]string{EnforceLevelLabel: "privileged", WarnLevelLabel: "privileged", AuditLevelLabel: "privileged"}
	tests := []struct {
		name        string
		def         string
		labels      map[string]string
		pod         *corev1.Pod
		denied      string
		warnings    []string
		audit       string
		labelErrors []string
	}{
		{name: "plain pod under the default baseline", def: "baseline", pod: pod()},
		{name: "privileged container under baseline", def: "baseline", pod: pod(privileged),
			denied: `violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)`,
			audit:  `would violate PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)`},
		{name: "hostPath under baseline", def: "baseline", pod: pod(hostPath),
			denied: `violates PodSecurity "baseline:latest": hostPath volumes (volume "root")`,
			audit:  `would violate PodSecurity "baseline:latest": hostPath volumes (volume "root")`},
		{name: "hostNetwork and hostPath under baseline", def: "baseline", pod: pod(hostNetwork, hostPath),
			denied: `violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), hostPath volumes (volume "root")`,
			audit:  `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true), hostPath volumes (volume "root")`},
		{name: "privileged namespace allows everything", def: "baseline", labels: fullyPrivileged, pod: pod(privileged, hostPath, hostNetwork)},
		{name: "enforce privileged alone still warns at the default", def: "baseline",
			labels: map[string]string{EnforceLevelLabel: "privileged"}, pod: pod(hostPath),
			warnings: []string{`would violate PodSecurity "baseline:latest": hostPath volumes (volume "root")`},
			audit:    `would violate PodSecurity "baseline:latest": hostPath volumes (volume "root")`},
		{name: "restricted namespace refuses a plain pod", def: "baseline",
			labels: map[string]string{EnforceLevelLabel: "restricted"}, pod: pod(),
			denied: `violates PodSecurity "restricted:latest": ` + restrictedPlain},
		{name: "restricted namespace allows a hardened pod", def: "baseline",
			labels: map[string]string{EnforceLevelLabel: "restricted"}, pod: pod(restrictedOK)},
		{name: "restricted default", def: "restricted", pod: pod(),
			denied: `violates PodSecurity "restricted:latest": ` + restrictedPlain,
			audit:  `would violate PodSecurity "restricted:latest": ` + restrictedPlain},
		{name: "warn-only namespace warns", def: "baseline",
			labels: map[string]string{WarnLevelLabel: "restricted"}, pod: pod(),
			warnings: []string{`would violate PodSecurity "restricted:latest": ` + restrictedPlain}},
		{name: "audit label", def: "privileged",
			labels: map[string]string{AuditLevelLabel: "baseline"}, pod: pod(hostNetwork),
			audit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "privileged default allows everything", def: "privileged", pod: pod(privileged, hostPath)},
		{name: "enforce version is kept", def: "privileged",
			labels: map[string]string{EnforceLevelLabel: "baseline", EnforceVersionLabel: "v1.24"}, pod: pod(hostPath),
			denied: `violates PodSecurity "baseline:v1.24": hostPath volumes (volume "root")`},
		{name: "bad enforce level fails closed to restricted", def: "privileged",
			labels: map[string]string{EnforceLevelLabel: "bogus"}, pod: pod(),
			denied:      `violates PodSecurity "restricted:latest": ` + restrictedPlain,
			labelErrors: []string{`metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "bogus": must be one of privileged, baseline, restricted`}},
		{name: "bad warn level fails open", def: "privileged",
			labels: map[string]string{WarnLevelLabel: "Restricted"}, pod: pod(hostPath),
			labelErrors: []string{`metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "Restricted": must be one of privileged, baseline, restricted`}},
		{name: "bad version means latest", def: "privileged",
			labels: map[string]string{EnforceLevelLabel: "baseline", EnforceVersionLabel: "v2.0"}, pod: pod(hostPath),
			denied:      `violates PodSecurity "baseline:latest": hostPath volumes (volume "root")`,
			labelErrors: []string{`metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "v2.0": must be "latest" or "v1.x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.def)
			if err != nil {
				t.Fatal(err)
			}
			r := p.Check(tt.labels, &tt.pod.ObjectMeta, &tt.pod.Spec)
			if got := r.DeniedMessage(); got != tt.denied {
				t.Errorf("denied:\n got %q\nwant %q", got, tt.denied)
			}
			if r.Denied() != (tt.denied != "") {
				t.Errorf("Denied() = %v with message %q", r.Denied(), r.DeniedMessage())
			}
			if got := r.Warnings(); !slices.Equal(got, tt.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", got, tt.warnings)
			}
			if got := r.AuditMessage(); got != tt.audit {
				t.Errorf("audit:\n got %q\nwant %q", got, tt.audit)
			}
			var labelErrs []string
			for _, e := range r.LabelErrors {
				labelErrs = append(labelErrs, e.Error())
			}
			if !slices.Equal(labelErrs, tt.labelErrors) {
				t.Errorf("label errors:\n got %q\nwant %q", labelErrs, tt.labelErrors)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		level   string
		wantErr string
	}{
		{level: "privileged"},
		{level: "baseline"},
		{level: "restricted"},
		{level: "Baseline", wantErr: `podsecurity: default level "Baseline": must be one of privileged, baseline, restricted`},
		{level: "", wantErr: `podsecurity: default level "": must be one of`},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			p, err := New(tt.level)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("New(%q) = %v, want error starting %q", tt.level, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.DefaultLevel(); got != tt.level {
				t.Errorf("DefaultLevel() = %q, want %q", got, tt.level)
			}
		})
	}
}

func TestUpdateNeedsCheck(t *testing.T) {
	tests := []struct {
		name   string
		change func(*corev1.Pod)
		want   bool
	}{
		{name: "nothing", change: func(*corev1.Pod) {}},
		{name: "status", change: func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning }},
		{name: "labels", change: func(p *corev1.Pod) { p.Labels = map[string]string{"a": "b"} }},
		{name: "node name", change: func(p *corev1.Pod) { p.Spec.NodeName = "n1" }, want: true},
		{name: "image", change: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:2" }, want: true},
		{name: "privileged added", change: privilegedPod, want: true},
		{name: "hostPath added", change: func(p *corev1.Pod) { hostPath(&p.Spec) }, want: true},
		{name: "AppArmor annotation", change: func(p *corev1.Pod) {
			p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}
		}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := pod()
			p := old.DeepCopy()
			tt.change(p)
			if got := UpdateNeedsCheck(p, old); got != tt.want {
				t.Errorf("UpdateNeedsCheck = %v, want %v", got, tt.want)
			}
		})
	}
}

func privilegedPod(p *corev1.Pod) { privileged(&p.Spec) }
