package volumes_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/bosun-dev/bosun/nodeagent/podenv"
	"github.com/bosun-dev/bosun/nodeagent/volumes"
)

func downwardVolume(name string, items ...corev1.DownwardAPIVolumeFile) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: items}}}
}

func fieldFile(path, field string) corev1.DownwardAPIVolumeFile {
	return corev1.DownwardAPIVolumeFile{Path: path, FieldRef: &corev1.ObjectFieldSelector{FieldPath: field}}
}

// checkFiles checks the content and mode of files under dir.
func checkFiles(t *testing.T, dir string, want map[string]string, modes map[string]os.FileMode) {
	t.Helper()
	for p, w := range want {
		got, mode := read(t, filepath.Join(dir, p))
		if got != w {
			t.Errorf("%s = %q, want %q", p, got, w)
		}
		if m, ok := modes[p]; ok && mode != m {
			t.Errorf("%s mode %v, want %v", p, mode, m)
		}
	}
}

func TestDownwardAPIVolume(t *testing.T) {
	root := t.TempDir()
	m := volumes.New(volumes.Config{RootDir: root, NodeName: "n1", DisableTmpfs: true,
		Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}})
	pod := testPod(downwardVolume("info",
		fieldFile("name", "metadata.name"),
		fieldFile("labels", "metadata.labels"),
		fieldFile("meta/tier", "metadata.labels['tier']"),
		corev1.DownwardAPIVolumeFile{Path: "mem", Mode: ptr(int32(0o600)), ResourceFieldRef: &corev1.ResourceFieldSelector{
			ContainerName: "app", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
	))
	pod.Labels = map[string]string{"tier": "front", "app": "web"}
	pod.Spec.Containers = []corev1.Container{{Name: "app"}}
	vols, err := m.Setup(context.Background(), pod, objs)
	if err != nil {
		t.Fatal(err)
	}
	v := vols["info"]
	if want := filepath.Join(m.PodDir("u1"), "volumes", "downward-api", "info"); v.HostPath != want || !v.ReadOnly {
		t.Fatalf("volume = %+v, want read-only at %s", v, want)
	}
	checkFiles(t, v.HostPath, map[string]string{"name": "web", "labels": "app=\"web\"\ntier=\"front\"", "meta/tier": "front", "mem": "2048"},
		map[string]os.FileMode{"name": 0o644, "mem": 0o600})
	// The visible names are links into ..data, as kubelet lays them out.
	if target, err := os.Readlink(filepath.Join(v.HostPath, "meta")); err != nil || target != filepath.Join("..data", "meta") {
		t.Errorf("meta links to %q (%v), want ..data/meta", target, err)
	}
	first, err := os.Readlink(filepath.Join(v.HostPath, "..data"))
	if err != nil {
		t.Fatal(err)
	}

	// Unchanged content: nothing rewritten.
	if err := m.Refresh(context.Background(), pod, objs); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Readlink(filepath.Join(v.HostPath, "..data")); again != first {
		t.Errorf("..data switched from %s to %s although nothing changed", first, again)
	}

	// New labels: Refresh switches ..data to a new directory and removes the old one.
	pod.Labels = map[string]string{"tier": "back"}
	if err := m.Refresh(context.Background(), pod, objs); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, v.HostPath, map[string]string{"labels": `tier="back"`, "meta/tier": "back"}, nil)
	second, _ := os.Readlink(filepath.Join(v.HostPath, "..data"))
	if second == first {
		t.Error("..data still links to the first directory")
	}
	if _, err := os.Stat(filepath.Join(v.HostPath, first)); !os.IsNotExist(err) {
		t.Errorf("old data directory %s still there: %v", first, err)
	}
	entries, _ := os.ReadDir(v.HostPath)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{second, "..data", "labels", "mem", "meta", "name"}; strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("volume holds %v, want %v", names, want)
	}
}

func TestProjectedVolume(t *testing.T) {
	m, _ := newManager(t, "n1")
	pod := testPod(corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o440)),
		Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Items: []corev1.KeyToPath{{Key: "a.conf", Path: "conf/a.conf"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"},
				Items: []corev1.KeyToPath{{Key: "password", Path: "password", Mode: ptr(int32(0o400))}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{fieldFile("ns", "metadata.namespace")}}},
		},
	}}})
	vols, err := m.Setup(context.Background(), pod, objs)
	if err != nil {
		t.Fatal(err)
	}
	v := vols["all"]
	if want := filepath.Join(m.PodDir("u1"), "volumes", "projected", "all"); v.HostPath != want || !v.ReadOnly {
		t.Fatalf("volume = %+v, want read-only at %s", v, want)
	}
	checkFiles(t, v.HostPath, map[string]string{"conf/a.conf": "A", "password": "s3cret", "ns": "default"},
		map[string]os.FileMode{"conf/a.conf": 0o440, "password": 0o400, "ns": 0o440})

	// A changed ConfigMap reaches the volume on Refresh; a dropped key goes.
	changed := objects{cms: map[string]*corev1.ConfigMap{"cfg": {Data: map[string]string{"a.conf": "A2"}}}, secrets: objs.secrets}
	if err := m.Refresh(context.Background(), pod, changed); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, v.HostPath, map[string]string{"conf/a.conf": "A2"}, nil)
	pod.Spec.Volumes[0].Projected.Sources = pod.Spec.Volumes[0].Projected.Sources[:1]
	if err := m.Refresh(context.Background(), pod, changed); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(v.HostPath, "password")); !os.IsNotExist(err) {
		t.Errorf("password of a removed source still there: %v", err)
	}
}

func TestProjectedAndDownwardErrors(t *testing.T) {
	projected := func(s corev1.VolumeProjection) corev1.VolumeSource {
		return corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{s}}}
	}
	for _, tc := range []struct {
		name string
		vol  corev1.VolumeSource
		want string
	}{
		{"serviceAccountToken", projected(corev1.VolumeProjection{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}),
			"spec.volumes[0] (v): projected.sources[0].serviceAccountToken: service account tokens are not supported by bosun yet"},
		{"clusterTrustBundle", projected(corev1.VolumeProjection{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Path: "ca.pem"}}),
			"projected.sources[0].clusterTrustBundle: cluster trust bundles are not supported by bosun"},
		{"missing configmap", projected(corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}), `projected.sources[0]: configmap "nope" not found`},
		{"field not allowed in a volume", downwardVolume("v", fieldFile("ip", "status.podIP")).VolumeSource,
			`downwardAPI.items[0]: fieldRef.fieldPath "status.podIP" is not supported in a volume`},
		{"resourceFieldRef without containerName", downwardVolume("v", corev1.DownwardAPIVolumeFile{Path: "cpu",
			ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}).VolumeSource, "containerName is required"},
		{"path starting with ..", downwardVolume("v", fieldFile("..x", "metadata.name")).VolumeSource, "does not start with '..'"},
		{"absolute path", downwardVolume("v", fieldFile("/x", "metadata.name")).VolumeSource, "must be a relative path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newManager(t, "n1")
			_, err := m.Setup(context.Background(), testPod(corev1.Volume{Name: "v", VolumeSource: tc.vol}), objs)
			if msg, ok := podenv.IsConfigError(err); !ok || !strings.Contains(msg, tc.want) {
				t.Errorf("error %v, want a ConfigError containing %q", err, tc.want)
			}
		})
	}
}

// BenchmarkRefreshUnchanged measures a refresh that finds nothing to
// change, what every sync of a running pod costs: a configMap, a
// downwardAPI and a projected volume.
func BenchmarkRefreshUnchanged(b *testing.B) {
	m := volumes.New(volumes.Config{RootDir: b.TempDir(), NodeName: "n1", DisableTmpfs: true})
	pod := testPod(
		corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		downwardVolume("info", fieldFile("name", "metadata.name"), fieldFile("labels", "metadata.labels")),
		corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{fieldFile("ns", "metadata.namespace")}}},
		}}}},
	)
	pod.Labels = map[string]string{"app": "web"}
	if _, err := m.Setup(context.Background(), pod, objs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := m.Refresh(context.Background(), pod, objs); err != nil {
			b.Fatal(err)
		}
	}
}
