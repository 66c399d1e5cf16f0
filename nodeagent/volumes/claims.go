package volumes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent/podenv"
)

// ErrNotReady is wrapped by Setup's error when a volume cannot be set up
// yet but will be without the pod changing (its claim is not bound yet):
// the pod stays ContainerCreating and Setup is tried again later.
var ErrNotReady = errors.New("volume not ready")

// Local persistent volumes, agreed with the volumebinding controller.
const (
	// AnnotationProvisionedBy names the provisioner of a PersistentVolume.
	AnnotationProvisionedBy = "pv.kubernetes.io/provisioned-by"
	// LocalProvisioner is bosun's node-local provisioner: the agent creates
	// the directories of its volumes (mode 0777, as local-path-provisioner).
	LocalProvisioner = "bosun.dev/local-path"
	// hostnameLabel is the node label local volumes' node affinity uses.
	hostnameLabel = "kubernetes.io/hostname"
)

// Claims reads the PersistentVolumeClaims of pods and their
// PersistentVolumes. Both return nil and no error when the object does not
// exist; implementations are safe for concurrent use.
type Claims interface {
	PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
	PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error)
}

// claimVolume resolves a persistentVolumeClaim volume to its PV's local
// (or hostPath) directory. A pod keeps the directory it first got.
func (m *Manager) claimVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, field string) (Volume, error) {
	key := string(pod.UID) + "/" + v.Name
	m.mu.Lock()
	vol, ok := m.claimed[key]
	m.mu.Unlock()
	if ok {
		return vol, nil
	}
	if m.cfg.Claims == nil {
		return Volume{}, podenv.ConfigErrorf("%s: persistentVolumeClaim volumes are not supported by bosun on an agent without API access", field)
	}
	path, err := m.claimPath(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
	if err != nil {
		return Volume{}, fmt.Errorf("volumes: pod %s: %s: %w", podRef(pod), field, err)
	}
	vol = Volume{HostPath: path, ReadOnly: v.PersistentVolumeClaim.ReadOnly}
	// Recorded in the pod's directory, so that the directory counts as in
	// use (ClaimedPaths) for as long as the pod's directory exists.
	rec := filepath.Join(m.PodDir(string(pod.UID)), podClaimsDir, v.Name)
	if err := os.MkdirAll(filepath.Dir(rec), 0o750); err != nil {
		return Volume{}, fmt.Errorf("volumes: pod %s: %s: %w", podRef(pod), field, err)
	}
	if err := os.WriteFile(rec, []byte(path+"\n"), 0o644); err != nil {
		return Volume{}, fmt.Errorf("volumes: pod %s: %s: record its claim: %w", podRef(pod), field, err)
	}
	m.mu.Lock()
	m.claimed[key] = vol
	m.mu.Unlock()
	return vol, nil
}

// claimPath returns the host directory of the PV bound to the claim,
// creating it for volumes of bosun's provisioner.
func (m *Manager) claimPath(ctx context.Context, ns, name string) (string, error) {
	pvc, err := m.cfg.Claims.PersistentVolumeClaim(ctx, ns, name)
	switch {
	case err != nil:
		return "", fmt.Errorf("read persistentvolumeclaim %s/%s: %w", ns, name, err)
	case pvc == nil:
		return "", fmt.Errorf("persistentvolumeclaim %s/%s not found: %w", ns, name, ErrNotReady)
	case pvc.DeletionTimestamp != nil:
		return "", fmt.Errorf("persistentvolumeclaim %s/%s is being deleted: %w", ns, name, ErrNotReady)
	case pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound:
		return "", fmt.Errorf("persistentvolumeclaim %s/%s is not bound: %w", ns, name, ErrNotReady)
	}
	pv, err := m.cfg.Claims.PersistentVolume(ctx, pvc.Spec.VolumeName)
	switch {
	case err != nil:
		return "", fmt.Errorf("read persistentvolume %s: %w", pvc.Spec.VolumeName, err)
	case pv == nil:
		return "", fmt.Errorf("persistentvolume %s of claim %s/%s not found: %w", pvc.Spec.VolumeName, ns, name, ErrNotReady)
	case pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != name || pv.Spec.ClaimRef.Namespace != ns ||
		(pv.Spec.ClaimRef.UID != "" && pv.Spec.ClaimRef.UID != pvc.UID):
		return "", fmt.Errorf("persistentvolume %s is not bound to claim %s/%s: %w", pv.Name, ns, name, ErrNotReady)
	}
	if !m.affine(pv) {
		return "", podenv.ConfigErrorf("persistentvolume %s: volume node affinity conflict: it is not on node %s", pv.Name, m.cfg.NodeName)
	}
	return m.pvPath(pv)
}

// affine reports whether the PV's required node affinity allows this
// node, judged on the kubernetes.io/hostname terms only (the agent does
// not know its other labels; the scheduler checks them).
func (m *Manager) affine(pv *corev1.PersistentVolume) bool {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return true
	}
	for _, term := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
		ok := true
		for _, r := range term.MatchExpressions {
			if r.Key != hostnameLabel {
				continue
			}
			in := slices.Contains(r.Values, m.cfg.NodeName)
			if (r.Operator == corev1.NodeSelectorOpIn && !in) || (r.Operator == corev1.NodeSelectorOpNotIn && in) {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// pvPath returns the PV's directory: spec.local.path or
// spec.hostPath.path, created (0777) when bosun provisioned the PV.
func (m *Manager) pvPath(pv *corev1.PersistentVolume) (string, error) {
	var path string
	switch {
	case pv.Spec.Local != nil:
		path = pv.Spec.Local.Path
	case pv.Spec.HostPath != nil:
		path = pv.Spec.HostPath.Path
	default:
		return "", podenv.ConfigErrorf("persistentvolume %s: %s volumes are not supported by bosun: use local or hostPath",
			pv.Name, jsonFieldName(pv.Spec.PersistentVolumeSource))
	}
	if !filepath.IsAbs(path) {
		return "", podenv.ConfigErrorf("persistentvolume %s: path %q must be absolute", pv.Name, path)
	}
	if pv.Annotations[AnnotationProvisionedBy] == LocalProvisioner {
		if !strings.HasPrefix(path, m.LocalVolumeDir()+string(filepath.Separator)) {
			return "", podenv.ConfigErrorf("persistentvolume %s: path %s of a %s volume is not under this node's volume directory %s",
				pv.Name, path, LocalProvisioner, m.LocalVolumeDir())
		}
		if err := os.MkdirAll(path, 0o777); err != nil {
			return "", fmt.Errorf("persistentvolume %s: create %s: %w", pv.Name, path, err)
		}
		if err := os.Chmod(path, 0o777); err != nil { // not narrowed by the umask
			return "", fmt.Errorf("persistentvolume %s: %w", pv.Name, err)
		}
		return path, nil
	}
	if pv.Spec.HostPath != nil {
		if err := checkHostPath(pv.Spec.HostPath); err != nil {
			return "", podenv.ConfigErrorf("persistentvolume %s: %v", pv.Name, err)
		}
		return path, nil
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		return "", podenv.ConfigErrorf("persistentvolume %s: local path %s is not a directory on node %s", pv.Name, path, m.cfg.NodeName)
	}
	return path, nil
}

// podClaimsDir of a pod directory holds a file per persistentVolumeClaim
// volume with the host directory it mounts.
const podClaimsDir = "claims"

// ClaimedPaths returns the host directories of the persistentVolumeClaim
// volumes of this node's pods: those whose pod directory still exists,
// including pods set up before the agent restarted.
func (m *Manager) ClaimedPaths() (map[string]bool, error) {
	out := map[string]bool{}
	for _, uid := range m.PodDirUIDs() {
		dir := filepath.Join(m.PodDir(uid), podClaimsDir)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("volumes: pod %s: read its claims: %w", uid, err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("volumes: pod %s: read its claims: %w", uid, err)
			}
			if p := strings.TrimSpace(string(b)); p != "" {
				out[filepath.Clean(p)] = true
			}
		}
	}
	return out, nil
}

// LocalVolumeDir is the directory of this node's provisioned volumes,
// RootDir/volumes: the value of the Node annotation bosun.dev/local-volume-dir.
func (m *Manager) LocalVolumeDir() string { return filepath.Join(m.cfg.RootDir, "volumes") }

// forgetClaims drops what the pod's claims resolved to.
func (m *Manager) forgetClaims(uid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.claimed {
		if len(k) > len(uid) && k[:len(uid)+1] == uid+"/" {
			delete(m.claimed, k)
		}
	}
}

// Getter reads one API object; *client.Client is one.
type Getter interface {
	Get(ctx context.Context, r api.Resource, ns, name string) (api.Object, error)
}

// APIClaims returns Claims reading through the API (the agent's client).
func APIClaims(c Getter) (Claims, error) {
	pvc, ok := api.Lookup("persistentvolumeclaims")
	if !ok {
		return nil, errors.New("volumes: the API has no persistentvolumeclaims")
	}
	pv, ok := api.Lookup("persistentvolumes")
	if !ok {
		return nil, errors.New("volumes: the API has no persistentvolumes")
	}
	return apiClaims{c: c, pvc: pvc, pv: pv}, nil
}

type apiClaims struct {
	c       Getter
	pvc, pv api.Resource
}

func (a apiClaims) PersistentVolumeClaim(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	obj, err := a.c.Get(ctx, a.pvc, ns, name)
	if client.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil, fmt.Errorf("persistentvolumeclaim %s/%s: got a %T", ns, name, obj)
	}
	return pvc, nil
}

func (a apiClaims) PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	obj, err := a.c.Get(ctx, a.pv, "", name)
	if client.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return nil, fmt.Errorf("persistentvolume %s: got a %T", name, obj)
	}
	return pv, nil
}
