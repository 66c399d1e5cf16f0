package volumes_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-dev/bosun/nodeagent/podenv"
	"github.com/bosun-dev/bosun/nodeagent/volumes"
)

// claims is an in-memory volumes.Claims.
type claims struct {
	pvcs  map[string]*corev1.PersistentVolumeClaim // by namespace/name
	pvs   map[string]*corev1.PersistentVolume
	reads int
}

func (c *claims) PersistentVolumeClaim(_ context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	c.reads++
	return c.pvcs[ns+"/"+name], nil
}

func (c *claims) PersistentVolume(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	return c.pvs[name], nil
}

func boundClaim(name, pv string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("c-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: pv}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
}

func localPV(name, claim, path, node string, provisioned bool) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
			ClaimRef:               &corev1.ObjectReference{Namespace: "default", Name: claim, UID: types.UID("c-" + claim)},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}},
		}}
	if provisioned {
		pv.Annotations = map[string]string{volumes.AnnotationProvisionedBy: volumes.LocalProvisioner}
	}
	return pv
}

func claimVolume(name, claim string, readOnly bool) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
		ClaimName: claim, ReadOnly: readOnly}}}
}

func TestClaimVolumes(t *testing.T) {
	base := t.TempDir()
	existing := filepath.Join(base, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	provisioned := filepath.Join(root, "volumes", "pvc-1")
	pending := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pending"},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	c := &claims{
		pvcs: map[string]*corev1.PersistentVolumeClaim{
			"default/data": boundClaim("data", "pvc-1"), "default/old": boundClaim("old", "pv-old"),
			"default/pending": pending, "default/elsewhere": boundClaim("elsewhere", "pv-far"),
			"default/stolen": boundClaim("stolen", "pv-old"), "default/nopv": boundClaim("nopv", "gone"),
			"default/outside": boundClaim("outside", "pv-outside"),
		},
		pvs: map[string]*corev1.PersistentVolume{
			"pvc-1":      localPV("pvc-1", "data", provisioned, "n1", true),
			"pv-old":     localPV("pv-old", "old", existing, "n1", false),
			"pv-far":     localPV("pv-far", "elsewhere", existing, "n2", false),
			"pv-outside": localPV("pv-outside", "outside", filepath.Join(base, "elsewhere"), "n1", true),
		},
	}
	m := volumes.New(volumes.Config{RootDir: root, NodeName: "n1", DisableTmpfs: true, Claims: c})
	if m.LocalVolumeDir() != filepath.Join(root, "volumes") {
		t.Errorf("LocalVolumeDir = %s", m.LocalVolumeDir())
	}

	pod := testPod(claimVolume("data", "data", false), claimVolume("old", "old", true))
	vols, err := m.Setup(context.Background(), pod, objs)
	if err != nil {
		t.Fatal(err)
	}
	if got := vols["data"]; got != (volumes.Volume{HostPath: provisioned}) {
		t.Errorf("data = %+v, want %s read-write", got, provisioned)
	}
	if fi, err := os.Stat(provisioned); err != nil || fi.Mode().Perm() != 0o777 || !fi.IsDir() {
		t.Errorf("provisioned directory: %v %v, want a 0777 directory", fi, err)
	}
	if got := vols["old"]; got != (volumes.Volume{HostPath: existing, ReadOnly: true}) {
		t.Errorf("old = %+v, want %s read-only", got, existing)
	}
	if got, err := m.ClaimedPaths(); err != nil || len(got) != 2 || !got[provisioned] || !got[existing] {
		t.Errorf("ClaimedPaths = %v, %v; want %s and %s", got, err, provisioned, existing)
	}
	// A pod keeps its claims' directories: no second read.
	reads := c.reads
	if _, err := m.Setup(context.Background(), pod, objs); err != nil || c.reads != reads {
		t.Errorf("second Setup: %v, %d claim reads, want none", err, c.reads-reads)
	}

	for _, tc := range []struct {
		name, claim string
		notReady    bool
		want        string
	}{
		{name: "unbound claim waits", claim: "pending", notReady: true, want: "persistentvolumeclaim default/pending is not bound"},
		{name: "missing claim waits", claim: "nope", notReady: true, want: "persistentvolumeclaim default/nope not found"},
		{name: "missing volume waits", claim: "nopv", notReady: true, want: "persistentvolume gone of claim default/nopv not found"},
		{name: "volume bound to another claim waits", claim: "stolen", notReady: true, want: "is not bound to claim default/stolen"},
		{name: "volume of another node", claim: "elsewhere", want: "volume node affinity conflict"},
		{name: "provisioned volume outside the volume directory", claim: "outside", want: "is not under this node's volume directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Setup(context.Background(), testPod(claimVolume("v", tc.claim, false)), objs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if errors.Is(err, volumes.ErrNotReady) != tc.notReady {
				t.Errorf("errors.Is(ErrNotReady) = %v, want %v", !tc.notReady, tc.notReady)
			}
			if _, isConfig := podenv.IsConfigError(err); isConfig == tc.notReady {
				t.Errorf("ConfigError = %v, want %v", isConfig, !tc.notReady)
			}
		})
	}

	// Once bound, the same pod's volume is set up.
	c.pvcs["default/pending"] = boundClaim("pending", "pv-pending")
	c.pvs["pv-pending"] = localPV("pv-pending", "pending", filepath.Join(root, "volumes", "pv-pending"), "n1", true)
	if _, err := m.Setup(context.Background(), testPod(claimVolume("v", "pending", false)), objs); err != nil {
		t.Errorf("after binding: %v", err)
	}

	// A restarted agent still knows what the pod uses; a removed pod uses nothing.
	restarted := volumes.New(volumes.Config{RootDir: root, NodeName: "n1", DisableTmpfs: true, Claims: c})
	if got, err := restarted.ClaimedPaths(); err != nil || !got[provisioned] {
		t.Errorf("ClaimedPaths after a restart = %v, %v; want %s in it", got, err, provisioned)
	}
	if err := m.RemovePodDir("u1"); err != nil {
		t.Fatal(err)
	}
	if got, err := m.ClaimedPaths(); err != nil || len(got) != 0 {
		t.Errorf("ClaimedPaths after the pod went = %v, %v; want none", got, err)
	}
	if _, err := os.Stat(provisioned); err != nil {
		t.Errorf("removing the pod removed its volume's data: %v", err)
	}

	noAPI := volumes.New(volumes.Config{RootDir: t.TempDir(), NodeName: "n1", DisableTmpfs: true})
	if _, err := noAPI.Setup(context.Background(), pod, objs); err == nil {
		t.Error("an agent without Claims set up a claim volume")
	}
}
