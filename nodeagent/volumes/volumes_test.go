package volumes_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/nodeagent/podenv"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/volumes"
)

type objects struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
}

func (o objects) ConfigMap(_ context.Context, name string) (*corev1.ConfigMap, error) {
	return o.cms[name], nil
}

func (o objects) Secret(_ context.Context, name string) (*corev1.Secret, error) {
	return o.secrets[name], nil
}

func ptr[T any](v T) *T { return &v }

var objs = objects{
	cms: map[string]*corev1.ConfigMap{"cfg": {Data: map[string]string{"a.conf": "A", "b.conf": "B"},
		BinaryData: map[string][]byte{"bin": {0, 1}}}},
	secrets: map[string]*corev1.Secret{"creds": {Data: map[string][]byte{"password": []byte("s3cret")}}},
}

func newManager(t *testing.T, node string) (*volumes.Manager, string) {
	root := t.TempDir()
	return volumes.New(volumes.Config{RootDir: root, NodeName: node, DisableTmpfs: true}), root
}

func testPod(vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "u1"},
		Spec: corev1.PodSpec{Volumes: vols}}
}

func read(t *testing.T, p string) (string, os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), fi.Mode().Perm()
}

func TestSetup(t *testing.T) {
	m, root := newManager(t, "n1")
	host := filepath.Join(t.TempDir(), "made")
	pod := testPod(
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: host, Type: ptr(corev1.HostPathDirectoryOrCreate)}}},
		corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr(int32(0o600)),
			Items: []corev1.KeyToPath{{Key: "a.conf", Path: "sub/a.conf"}, {Key: "bin", Path: "bin", Mode: ptr(int32(0o640))}}}}},
		corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
	)
	vols, err := m.Setup(context.Background(), pod, objs)
	if err != nil {
		t.Fatal(err)
	}
	dir := m.PodDir("u1")
	if dir != filepath.Join(root, "pods", "u1") {
		t.Errorf("PodDir = %s", dir)
	}
	want := map[string]volumes.Volume{
		"scratch": {HostPath: filepath.Join(dir, "volumes", "empty-dir", "scratch")},
		"host":    {HostPath: host},
		"config":  {HostPath: filepath.Join(dir, "volumes", "configmap", "config"), ReadOnly: true},
		"creds":   {HostPath: filepath.Join(dir, "volumes", "secret", "creds"), ReadOnly: true},
	}
	for name, w := range want {
		if vols[name] != w {
			t.Errorf("volume %s = %+v, want %+v", name, vols[name], w)
		}
	}
	if fi, err := os.Stat(host); err != nil || !fi.IsDir() {
		t.Errorf("hostPath DirectoryOrCreate not created: %v", err)
	}
	if got, mode := read(t, filepath.Join(want["config"].HostPath, "sub", "a.conf")); got != "A" || mode != 0o600 {
		t.Errorf("sub/a.conf = %q %v", got, mode)
	}
	if got, mode := read(t, filepath.Join(want["config"].HostPath, "bin")); got != "\x00\x01" || mode != 0o640 {
		t.Errorf("bin = %q %v", got, mode)
	}
	if _, err := os.Stat(filepath.Join(want["config"].HostPath, "b.conf")); err == nil {
		t.Error("b.conf written although items did not list it")
	}
	if got, mode := read(t, filepath.Join(want["creds"].HostPath, "password")); got != "s3cret" || mode != 0o644 {
		t.Errorf("password = %q %v", got, mode)
	}

	// A second setup with fewer keys removes the old files.
	pod.Spec.Volumes[2].ConfigMap.Items = pod.Spec.Volumes[2].ConfigMap.Items[:1]
	if _, err := m.Setup(context.Background(), pod, objs); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(want["config"].HostPath, "bin")); err == nil {
		t.Error("a file no longer projected was kept")
	}

	if got := m.PodDirUIDs(); !slices.Equal(got, []string{"u1"}) {
		t.Errorf("PodDirUIDs = %v", got)
	}
	other := volumes.New(volumes.Config{RootDir: root, NodeName: "n2", DisableTmpfs: true})
	if got := other.PodDirUIDs(); len(got) != 0 {
		t.Errorf("another node's PodDirUIDs = %v, want none", got)
	}
	if err := other.RemovePodDir("u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal("another node removed this node's pod directory")
	}
	if err := m.RemovePodDir("u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("pod directory still there: %v", err)
	}
	if err := m.RemovePodDir("u1"); err != nil {
		t.Errorf("removing a missing directory: %v", err)
	}
}

func TestSetupConfigErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vol  corev1.VolumeSource
		want string
	}{
		{"missing configmap", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}, `spec.volumes[0] (v): configmap "nope" not found`},
		{"missing key", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "x", Path: "x"}}}},
			`configmap "cfg" references non-existent config key: x`},
		{"items path escapes", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds",
			Items: []corev1.KeyToPath{{Key: "password", Path: "../x"}}}}, "must be a relative path without '..'"},
		{"missing secret", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "nope"}}, `secret "nope" not found`},
		{"hostPath type", corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: file, Type: ptr(corev1.HostPathDirectory)}},
			"is not a directory"},
		{"hostPath relative", corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "rel"}}, "must be absolute"},
		{"emptyDir medium", corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "HugePages"}}, "is not supported"},
		{"unsupported type", corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}},
			"nfs volumes are not supported by bosun"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newManager(t, "n1")
			_, err := m.Setup(context.Background(), testPod(corev1.Volume{Name: "v", VolumeSource: tc.vol}), objs)
			if msg, ok := podenv.IsConfigError(err); !ok || !strings.Contains(msg, tc.want) {
				t.Errorf("error %v, want a ConfigError containing %q", err, tc.want)
			}
		})
	}
	// Optional references that are missing give empty volumes.
	m, _ := newManager(t, "n1")
	_, err := m.Setup(context.Background(), testPod(corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}}}), objs)
	if err != nil {
		t.Errorf("optional configmap: %v", err)
	}
}

func TestMounts(t *testing.T) {
	base := t.TempDir()
	if err := os.Mkdir(filepath.Join(base, "cfg"), 0o755); err != nil {
		t.Fatal(err)
	}
	vols := map[string]volumes.Volume{"data": {HostPath: base}, "cfg": {HostPath: filepath.Join(base, "cfg"), ReadOnly: true}}
	env := func(n string) (string, bool) { return map[string]string{"POD": "web-1"}[n], n == "POD" }
	for _, tc := range []struct {
		name    string
		mounts  []corev1.VolumeMount
		want    []runtime.Mount
		wantErr string
	}{
		{"plain and read-only", []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "cfg", MountPath: "/etc/app"},
			{Name: "data", MountPath: "/ro", ReadOnly: true}},
			[]runtime.Mount{{ContainerPath: "/data", HostPath: base}, {ContainerPath: "/etc/app", HostPath: filepath.Join(base, "cfg"), ReadOnly: true},
				{ContainerPath: "/ro", HostPath: base, ReadOnly: true}}, ""},
		{"subPathExpr is expanded and created", []corev1.VolumeMount{{Name: "data", MountPath: "/logs", SubPathExpr: "logs/$(POD)"}},
			[]runtime.Mount{{ContainerPath: "/logs", HostPath: filepath.Join(base, "logs", "web-1")}}, ""},
		{"subPath missing in a read-only volume", []corev1.VolumeMount{{Name: "cfg", MountPath: "/x", SubPath: "nope"}}, nil,
			`subPath "nope" does not exist in volume "cfg"`},
		{"subPath escapes", []corev1.VolumeMount{{Name: "data", MountPath: "/x", SubPath: "../etc"}}, nil, "must be a relative path"},
		{"unknown volume", []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}}, nil, `the pod has no volume named "nope"`},
		{"relative mountPath", []corev1.VolumeMount{{Name: "data", MountPath: "x"}}, nil, "must be absolute"},
		{"propagation", []corev1.VolumeMount{{Name: "data", MountPath: "/x", MountPropagation: ptr(corev1.MountPropagationBidirectional)}},
			nil, "mountPropagation: Bidirectional is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := volumes.Mounts(&corev1.Container{Name: "app", VolumeMounts: tc.mounts}, vols, env)
			if tc.wantErr != "" {
				if msg, ok := podenv.IsConfigError(err); !ok || !strings.Contains(msg, tc.wantErr) {
					t.Fatalf("error %v, want a ConfigError containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("mounts %+v, want %+v", got, tc.want)
			}
			for _, m := range got {
				if _, err := os.Stat(m.HostPath); err != nil {
					t.Errorf("host path of %s: %v", m.ContainerPath, err)
				}
			}
		})
	}
}
