package volumes_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/internal/testenv"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/nodeagent/volumes"
)

// mountsUnder counts the mounts at or under dir.
func mountsUnder(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			n++
		}
	}
	return n
}

// TestMemoryVolumesAndUnmountAll (root): secret, downwardAPI and projected
// volumes sit on a tmpfs, a refresh mounts nothing more, and UnmountAll
// leaves no mount behind.
func TestMemoryVolumesAndUnmountAll(t *testing.T) {
	testenv.E2E(t, testenv.Root()) // mounting a tmpfs needs root; CI runs as root

	root := t.TempDir()
	t.Cleanup(func() { _ = volumes.UnmountAll(root) }) // even when the test fails
	m := volumes.New(volumes.Config{RootDir: root, NodeName: "n1"})
	pod := testPod(
		corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		downwardVolume("info", fieldFile("name", "metadata.name")),
		corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{fieldFile("ns", "metadata.namespace")}}}}}}},
	)
	vols, err := m.Setup(context.Background(), pod, objs)
	if err != nil {
		t.Fatal(err)
	}
	if n := mountsUnder(t, root); n != 3 {
		t.Fatalf("%d mounts under the root, want 3 (one tmpfs per volume)", n)
	}
	pod.Labels = map[string]string{"a": "b"}
	if err := m.Refresh(context.Background(), pod, objs); err != nil {
		t.Fatal(err)
	}
	if n := mountsUnder(t, root); n != 3 {
		t.Errorf("%d mounts after a refresh, want still 3", n)
	}
	if got, _ := read(t, filepath.Join(vols["info"].HostPath, "name")); got != "web" {
		t.Errorf("name = %q", got)
	}
	if err := volumes.UnmountAll(root); err != nil {
		t.Fatal(err)
	}
	if n := mountsUnder(t, root); n != 0 {
		t.Errorf("%d mounts left after UnmountAll", n)
	}
}
