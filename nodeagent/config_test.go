package nodeagent_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

func ptr[T any](v T) *T { return &v }

func envMap(cfg runtime.ContainerConfig) map[string]string {
	m := map[string]string{}
	for _, kv := range cfg.Env {
		m[kv.Key] = kv.Value
	}
	return m
}

func (e *env) createObj(obj interface{ GetName() string }) {
	e.t.Helper()
	var err error
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		err = e.st.Create(ctx(e.t), o)
	case *corev1.Secret:
		err = e.st.Create(ctx(e.t), o)
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

func waitingReason(p *corev1.Pod) (string, string) {
	if p == nil {
		return "", ""
	}
	if w := appStatus(p).State.Waiting; w != nil {
		return w.Reason, w.Message
	}
	return "", ""
}

func TestContainerEnvironment(t *testing.T) {
	e := newEnv(t)
	rec := &recording{Fake: runtimetest.New(runtimetest.Config{Clock: e.clk})}
	e.createObj(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "cfg"},
		Data: map[string]string{"LOG_LEVEL": "debug", "mode": "fast", "bad-key": "x", "1ST": "y"}})
	e.createObj(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "creds"},
		Data: map[string][]byte{"password": []byte("s3cret"), "user": []byte("admin")}})
	var svcSeen []string
	stop := e.startWithRuntime(rec, func(c *nodeagent.Config) {
		c.ServiceEnv = func(services []*corev1.Service, ns string) []corev1.EnvVar {
			svcSeen = append(svcSeen, ns)
			return []corev1.EnvVar{{Name: "DB_SERVICE_HOST", Value: "10.43.0.7"}, {Name: "LOG_LEVEL", Value: "from-service"}}
		}
	})
	defer stop()
	p := probePod("web", corev1.Container{
		Command:    []string{"/app", "--level=$(LOG_LEVEL)"},
		Args:       []string{"$(GREETING)", "$$(GREETING)", "$(UNDEFINED)"},
		WorkingDir: "/srv",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
		SecurityContext: &corev1.SecurityContext{RunAsUser: ptr(int64(1000)), ReadOnlyRootFilesystem: ptr(true)},
		EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
		},
		Env: []corev1.EnvVar{
			{Name: "GREETING", Value: "hello $(POD_NAME)"}, // POD_NAME is defined later: not expanded
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "POD_UID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "HOST_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
			{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "TIER", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['tier']"}}},
			{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}},
			{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
			{Name: "OPTIONAL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "absent", Optional: ptr(true)}}},
			{Name: "URL", Value: "http://$(POD_IP):8080/$(POD_NAME)?u=$(DB_user)&cost=$$5"},
		},
	})
	p.Labels = map[string]string{"tier": "front"}
	e.create(p)
	e.eventually("the pod to run", 0, func() bool { return runningReady(e.pod("web")) })
	got := e.pod("web")
	cfg, _ := rec.last("app")
	env := envMap(cfg)
	want := map[string]string{
		"LOG_LEVEL": "debug", "mode": "fast", "bad-key": "x", "DB_password": "s3cret", "DB_user": "admin",
		"GREETING": "hello $(POD_NAME)", "POD_NAME": "web", "POD_NS": "default", "POD_UID": string(got.UID),
		"POD_IP": got.Status.PodIP, "HOST_IP": "192.168.1.10", "NODE": "n1", "TIER": "front",
		"MEM": "64", "CPU": "1", "MODE": "fast", "PASSWORD": "s3cret",
		"URL":             "http://" + got.Status.PodIP + ":8080/web?u=admin&cost=$5",
		"DB_SERVICE_HOST": "10.43.0.7",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"1ST", "OPTIONAL"} {
		if _, ok := env[k]; ok {
			t.Errorf("env %s is set, want it left out", k)
		}
	}
	if strings.Join(cfg.Command, " ") != "/app --level=debug" || strings.Join(cfg.Args, "|") != "hello $(POD_NAME)|$(GREETING)|$(UNDEFINED)" {
		t.Errorf("command %q args %q", cfg.Command, cfg.Args)
	}
	if cfg.WorkingDir != "/srv" || cfg.Resources.CPUMillis != 500 || cfg.Resources.MemoryBytes != 64<<20 {
		t.Errorf("workingDir %q resources %+v", cfg.WorkingDir, cfg.Resources)
	}
	if cfg.Annotations[nodeagent.AnnotationRunAsUser] != "1000" || cfg.Annotations[nodeagent.AnnotationReadOnlyRootfs] != "true" {
		t.Errorf("annotations %v", cfg.Annotations)
	}
	if len(svcSeen) == 0 || svcSeen[0] != "default" {
		t.Errorf("ServiceEnv called with %v", svcSeen)
	}
}

func TestExpansion(t *testing.T) {
	e := newEnv(t)
	rec := &recording{Fake: runtimetest.New(runtimetest.Config{Clock: e.clk})}
	e.startWithRuntime(rec, nil)
	cases := []struct{ name, in, want string }{
		{"plain", "abc", "abc"},
		{"defined", "$(A)", "a"},
		{"twice", "$(A)-$(B)", "a-b"},
		{"escaped", "$$(A)", "$(A)"},
		{"dollar dollar", "$$", "$"},
		{"escaped then var", "$$$(A)", "$a"},
		{"undefined", "$(NOPE)", "$(NOPE)"},
		{"later var", "$(LATER)", "$(LATER)"},
		{"unclosed", "$(A", "$(A"},
		{"lone dollar at end", "x$", "x$"},
		{"dollar other", "$A and $", "$A and $"},
		{"empty name", "$()", "$()"},
		{"nested", "$($(A))", "$($(A))"},
	}
	var env []corev1.EnvVar
	env = append(env, corev1.EnvVar{Name: "A", Value: "a"}, corev1.EnvVar{Name: "B", Value: "b"})
	for i, c := range cases {
		env = append(env, corev1.EnvVar{Name: "CASE" + string(rune('A'+i)), Value: c.in})
	}
	env = append(env, corev1.EnvVar{Name: "LATER", Value: "late"})
	e.create(probePod("exp", corev1.Container{Env: env}))
	e.eventually("the pod to run", 0, func() bool { return runningReady(e.pod("exp")) })
	cfg, _ := rec.last("app")
	got := envMap(cfg)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if v := got["CASE"+string(rune('A'+i))]; v != c.want {
				t.Errorf("%q expanded to %q, want %q", c.in, v, c.want)
			}
		})
	}
}

func TestCreateContainerConfigError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ctr     corev1.Container
		vols    []corev1.Volume
		message string
		fix     func(e *env)
	}{
		{name: "missing configmap", message: `configmap "settings" not found`,
			ctr: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "x"}}}}},
			fix: func(e *env) {
				e.createObj(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "settings"}, Data: map[string]string{"x": "1"}})
			}},
		{name: "missing key", message: "couldn't find key token in Secret default/creds",
			ctr: corev1.Container{Env: []corev1.EnvVar{{Name: "T", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token"}}}}}},
		{name: "missing envFrom secret", message: `secret "nothere" not found`,
			ctr: corev1.Container{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nothere"}}}}}},
		{name: "unsupported fieldRef", message: `fieldRef.fieldPath "status.phase" is not supported`,
			ctr: corev1.Container{Env: []corev1.EnvVar{{Name: "P", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.phase"}}}}}},
		{name: "unsupported volume", message: "spec.volumes[0] (data): nfs volumes are not supported by bosun",
			vols: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.example", Path: "/x"}}}},
			ctr:  corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		{name: "unknown volume", message: `volumeMounts[0]: the pod has no volume named "cache"`,
			ctr: corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}}},
		{name: "mount propagation", message: "mountPropagation: Bidirectional is not supported",
			vols: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			ctr: corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp",
				MountPropagation: ptr(corev1.MountPropagationBidirectional)}}}},
		{name: "missing configmap volume", message: `spec.volumes[0] (cfg): configmap "cfg" not found`,
			vols: []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}},
			ctr: corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/cfg"}}}},
		{name: "hostPath type", message: "hostPath type check failed",
			vols: []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: "/nonexistent/bosun-test", Type: ptr(corev1.HostPathDirectory)}}}},
			ctr: corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "h", MountPath: "/h"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.createObj(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "creds"}, Data: map[string][]byte{"user": []byte("u")}})
			e.start()
			p := probePod("web", tc.ctr)
			p.Spec.Volumes = tc.vols
			e.create(p)
			var msg string
			e.eventually("CreateContainerConfigError", 0, func() bool {
				var reason string
				reason, msg = waitingReason(e.pod("web"))
				return reason == "CreateContainerConfigError"
			})
			if !strings.Contains(msg, tc.message) {
				t.Errorf("message %q, want it to contain %q", msg, tc.message)
			}
			if got := e.pod("web"); got.Status.Phase != corev1.PodPending {
				t.Errorf("phase %s, want Pending", got.Status.Phase)
			}
			if tc.fix != nil {
				tc.fix(e)
				e.eventually("the container to start once fixed", time.Second, func() bool { return runningReady(e.pod("web")) })
			}
		})
	}
}

func TestVolumes(t *testing.T) {
	e := newEnv(t)
	rec := &recording{Fake: runtimetest.New(runtimetest.Config{Clock: e.clk})}
	e.createObj(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "cfg"},
		Data: map[string]string{"app.conf": "port=80\n", "other": "x"}, BinaryData: map[string][]byte{"logo.bin": {0, 1, 2}}})
	e.createObj(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "tls"},
		Data: map[string][]byte{"tls.key": []byte("KEY"), "tls.crt": []byte("CRT")}})
	root := t.TempDir()
	cleanupMounts(t, root) // registered after TempDir: runs before its removal
	hostDir := filepath.Join(t.TempDir(), "made")
	stop := e.startWithRuntime(rec, func(c *nodeagent.Config) { c.RootDir = root })
	defer stop()
	p := probePod("web", corev1.Container{VolumeMounts: []corev1.VolumeMount{
		{Name: "cfg", MountPath: "/etc/app"},
		{Name: "picked", MountPath: "/etc/picked"},
		{Name: "tls", MountPath: "/etc/tls"},
		{Name: "scratch", MountPath: "/scratch"},
		{Name: "scratch", MountPath: "/logs", SubPath: "logs"},
		{Name: "mem", MountPath: "/mem"},
		{Name: "host", MountPath: "/host", ReadOnly: true},
	}})
	p.Spec.Volumes = []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "picked", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr(int32(0o600)),
			Items: []corev1.KeyToPath{{Key: "app.conf", Path: "conf/app.conf"}, {Key: "other", Path: "o", Mode: ptr(int32(0o640))}}}}},
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls", DefaultMode: ptr(int32(0o400))}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir, Type: ptr(corev1.HostPathDirectoryOrCreate)}}},
	}
	p = e.create(p)
	e.eventually("the pod to run", 0, func() bool { return runningReady(e.pod("web")) })
	cfg, _ := rec.last("app")
	mounts := map[string]runtime.Mount{}
	for _, m := range cfg.Mounts {
		mounts[m.ContainerPath] = m
	}
	podDir := filepath.Join(root, "pods", string(p.UID))
	for _, tc := range []struct {
		path     string
		host     string
		readOnly bool
	}{
		{"/etc/app", filepath.Join(podDir, "volumes/configmap/cfg"), true},
		{"/etc/picked", filepath.Join(podDir, "volumes/configmap/picked"), true},
		{"/etc/tls", filepath.Join(podDir, "volumes/secret/tls"), true},
		{"/scratch", filepath.Join(podDir, "volumes/empty-dir/scratch"), false},
		{"/logs", filepath.Join(podDir, "volumes/empty-dir/scratch/logs"), false},
		{"/mem", filepath.Join(podDir, "volumes/empty-dir/mem"), false},
		{"/host", hostDir, true},
	} {
		m, ok := mounts[tc.path]
		if !ok || m.HostPath != tc.host || m.ReadOnly != tc.readOnly {
			t.Errorf("mount %s = %+v, want host %s readOnly %v", tc.path, m, tc.host, tc.readOnly)
			continue
		}
		if fi, err := os.Stat(m.HostPath); err != nil || !fi.IsDir() {
			t.Errorf("mount %s: host path %s: %v", tc.path, m.HostPath, err)
		}
	}
	for _, f := range []struct {
		path    string
		content string
		mode    os.FileMode
	}{
		{"volumes/configmap/cfg/app.conf", "port=80\n", 0o644},
		{"volumes/configmap/cfg/logo.bin", "\x00\x01\x02", 0o644},
		{"volumes/configmap/picked/conf/app.conf", "port=80\n", 0o600},
		{"volumes/configmap/picked/o", "x", 0o640},
		{"volumes/secret/tls/tls.key", "KEY", 0o400},
		{"volumes/secret/tls/tls.crt", "CRT", 0o400},
	} {
		p := filepath.Join(podDir, f.path)
		b, err := os.ReadFile(p)
		fi, serr := os.Stat(p)
		if err != nil || serr != nil || string(b) != f.content || fi.Mode().Perm() != f.mode {
			t.Errorf("%s: %q (%v), mode %v (%v); want %q %v", f.path, b, err, fi.Mode().Perm(), serr, f.content, f.mode)
		}
	}
	if _, err := os.Stat(filepath.Join(podDir, "volumes/configmap/picked/app.conf")); err == nil {
		t.Errorf("an item not listed was written")
	}
	if os.Geteuid() == 0 {
		if !isMounted(t, filepath.Join(podDir, "volumes/secret/tls")) || !isMounted(t, filepath.Join(podDir, "volumes/empty-dir/mem")) {
			t.Errorf("running as root: the secret and memory volumes should be tmpfs mounts")
		}
	}
	// Deleting the pod unmounts and removes its directory.
	if err := e.st.Delete(ctx(t), podsR, "default", "web", ""); err != nil {
		t.Fatal(err)
	}
	e.eventually("the pod directory to be removed", 0, func() bool {
		_, err := os.Stat(podDir)
		return os.IsNotExist(err)
	})
	if isMounted(t, podDir) {
		t.Errorf("mounts left under %s", podDir)
	}
}

// isMounted reports whether something is mounted at or under dir.
func isMounted(t *testing.T, dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		// Only Linux has mountinfo; the tmpfs mounts this checks are
		// Linux-only too (mount_other.go makes plain directories).
		t.Skip("no /proc/self/mountinfo (not Linux): tmpfs mounts are not made here")
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			return true
		}
	}
	return false
}

func (e *env) startWithRuntime(rt runtime.Runtime, edit func(*nodeagent.Config)) func() {
	return e.startWith(func(c *nodeagent.Config) {
		c.Runtime = rt
		if edit != nil {
			edit(c)
		}
	})
}

func TestServiceLinks(t *testing.T) {
	e := newEnv(t)
	rec := &recording{Fake: runtimetest.New(runtimetest.Config{Clock: e.clk})}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "redis-main"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.9", Ports: []corev1.ServicePort{{Name: "redis", Port: 6379, Protocol: corev1.ProtocolTCP}}}}
	if err := e.st.Create(ctx(t), svc); err != nil {
		t.Fatal(err)
	}
	e.startWithRuntime(rec, nil) // default ServiceEnv: proxy.ServiceEnv
	with := probePod("with", corev1.Container{Name: "with"})
	without := probePod("without", corev1.Container{Name: "without"})
	without.Spec.EnableServiceLinks = ptr(false)
	e.create(with)
	e.create(without)
	e.eventually("both pods to run", 0, func() bool { return runningReady(e.pod("with")) && runningReady(e.pod("without")) })
	cfg, _ := rec.last("with")
	if got := envMap(cfg)["REDIS_MAIN_SERVICE_HOST"]; got != "10.43.0.9" {
		t.Errorf("REDIS_MAIN_SERVICE_HOST = %q, want 10.43.0.9 (env %v)", got, cfg.Env)
	}
	cfg, _ = rec.last("without")
	if _, ok := envMap(cfg)["REDIS_MAIN_SERVICE_HOST"]; ok {
		t.Errorf("enableServiceLinks=false, yet service variables are set: %v", cfg.Env)
	}
}
