package volumes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent/podenv"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// Objects reads the API objects a pod's volumes refer to.
type Objects interface {
	// ConfigMap returns the ConfigMap of the pod's namespace, or nil and
	// no error when it does not exist.
	ConfigMap(ctx context.Context, name string) (*corev1.ConfigMap, error)
	// Secret returns the Secret of the pod's namespace, or nil and no
	// error when it does not exist.
	Secret(ctx context.Context, name string) (*corev1.Secret, error)
}

// Config configures a Manager. RootDir and NodeName are required.
type Config struct {
	// RootDir holds a directory per pod, RootDir/pods/<uid>.
	RootDir string
	// NodeName is written into each pod directory, so that agents sharing
	// RootDir never remove each other's directories.
	NodeName string
	// DisableTmpfs keeps memory-backed volumes in plain directories.
	DisableTmpfs bool
	// Allocatable is the node's allocatable: the value of a limits.*
	// resourceFieldRef in a downwardAPI volume whose container sets no limit.
	Allocatable corev1.ResourceList
	// Claims reads persistentVolumeClaim volumes' claims and volumes
	// (APIClaims(client)); nil: such volumes are refused.
	Claims Claims
	// Logger receives warnings; nil discards.
	Logger *slog.Logger
}

// Manager sets up and removes the volumes of one node's pods. It is safe
// for concurrent use by the workers of different pods.
type Manager struct {
	cfg Config

	mu      sync.Mutex
	claimed map[string]Volume // "<pod uid>/<volume name>": a claim's directory, kept for the pod's life
}

// New returns a Manager for cfg.
func New(cfg Config) *Manager {
	defaults.Logger(&cfg.Logger)
	return &Manager{cfg: cfg, claimed: map[string]Volume{}}
}

func podRef(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// Volume directory layout under RootDir/pods/<uid>.
const (
	podVolumesDir = "volumes"
	// podNodeFile names the node a pod directory belongs to, so that agents
	// sharing a RootDir never remove each other's directories.
	podNodeFile = "node"
	// defaultFileMode is the mode of configMap and secret files without one.
	defaultFileMode = 0o644
)

// Volume is a pod volume as set up on the host.
type Volume struct {
	// HostPath is where the volume is on the host.
	HostPath string
	// ReadOnly: configMap, secret, downwardAPI and projected volumes are
	// always mounted read-only, a persistentVolumeClaim volume when its
	// readOnly is set.
	ReadOnly bool
}

// PodDir is the pod's directory.
func (m *Manager) PodDir(uid string) string {
	return filepath.Join(m.cfg.RootDir, "pods", uid)
}

// volumeTypeName names the type of a volume source (its JSON field).
func volumeTypeName(vs corev1.VolumeSource) string { return jsonFieldName(vs) }

// jsonFieldName names the one field set in a union struct (its JSON name).
func jsonFieldName(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "unknown"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return "unknown"
	}
	for k := range m {
		return k
	}
	return "(none)"
}

// Setup makes every volume of the pod present on the host and
// returns them by name. Problems the pod's owner must fix are
// *podenv.ConfigErrors; a volume that cannot be set up yet (an unbound
// claim) is an error wrapping ErrNotReady. Calling it again refreshes the
// configMap, secret, downwardAPI and projected volumes.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod, objs Objects) (map[string]Volume, error) {
	vols := map[string]Volume{}
	if len(pod.Spec.Volumes) == 0 {
		return vols, nil
	}
	dir := m.PodDir(string(pod.UID))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("volumes: pod %s: create its directory: %w", podRef(pod), err)
	}
	if err := os.WriteFile(filepath.Join(dir, podNodeFile), []byte(m.cfg.NodeName+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("volumes: pod %s: %w", podRef(pod), err)
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		field := fmt.Sprintf("spec.volumes[%d] (%s)", i, v.Name)
		vol, err := m.setupVolume(ctx, pod, v, field, objs)
		if err != nil {
			return nil, err
		}
		vols[v.Name] = vol
	}
	return vols, nil
}

// Refresh rewrites the files of the pod's configMap, secret, downwardAPI
// and projected volumes from the current objects and pod (labels,
// annotations), as kubelet does for running pods; each volume switches
// to its new content at once. It does nothing for a pod whose volumes
// were never set up, and leaves the other volume types alone.
func (m *Manager) Refresh(ctx context.Context, pod *corev1.Pod, objs Objects) error {
	dir := m.PodDir(string(pod.UID))
	if _, err := os.Stat(filepath.Join(dir, podNodeFile)); err != nil {
		return nil
	}
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.ConfigMap == nil && v.Secret == nil && v.DownwardAPI == nil && v.Projected == nil {
			continue
		}
		field := fmt.Sprintf("spec.volumes[%d] (%s)", i, v.Name)
		if _, err := m.setupVolume(ctx, pod, v, field, objs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setupVolume sets up one volume of the pod.
func (m *Manager) setupVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, field string, objs Objects) (Volume, error) {
	dir := m.PodDir(string(pod.UID))
	switch {
	case v.EmptyDir != nil:
		return m.emptyDir(pod, v, field)
	case v.HostPath != nil:
		if err := checkHostPath(v.HostPath); err != nil {
			return Volume{}, podenv.ConfigErrorf("%s: %v", field, err)
		}
		return Volume{HostPath: v.HostPath.Path}, nil
	case v.ConfigMap != nil:
		p := filepath.Join(dir, podVolumesDir, "configmap", v.Name)
		files, err := configMapFiles(ctx, v.ConfigMap, objs)
		if err != nil {
			return Volume{}, withField(field, err)
		}
		return m.writeVolume(pod, p, field, files, false)
	case v.Secret != nil:
		p := filepath.Join(dir, podVolumesDir, "secret", v.Name)
		files, err := secretFiles(ctx, v.Secret, objs)
		if err != nil {
			return Volume{}, withField(field, err)
		}
		return m.writeVolume(pod, p, field, files, true)
	case v.DownwardAPI != nil:
		p := filepath.Join(dir, podVolumesDir, "downward-api", v.Name)
		files, err := m.downwardAPIFiles(pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode, "downwardAPI")
		if err != nil {
			return Volume{}, withField(field, err)
		}
		return m.writeVolume(pod, p, field, files, true)
	case v.Projected != nil:
		p := filepath.Join(dir, podVolumesDir, "projected", v.Name)
		files, err := m.projectedFiles(ctx, pod, v.Projected, objs)
		if err != nil {
			return Volume{}, withField(field, err)
		}
		return m.writeVolume(pod, p, field, files, true)
	case v.PersistentVolumeClaim != nil:
		return m.claimVolume(ctx, pod, v, field)
	}
	return Volume{}, podenv.ConfigErrorf("%s: %s volumes are not supported by bosun: use emptyDir, hostPath, configMap, secret, "+
		"downwardAPI, projected or persistentVolumeClaim", field, volumeTypeName(v.VolumeSource))
}

// emptyDir creates an emptyDir volume (a tmpfs for medium Memory).
func (m *Manager) emptyDir(pod *corev1.Pod, v *corev1.Volume, field string) (Volume, error) {
	p := filepath.Join(m.PodDir(string(pod.UID)), podVolumesDir, "empty-dir", v.Name)
	if err := os.MkdirAll(p, 0o777); err != nil {
		return Volume{}, fmt.Errorf("volumes: pod %s: %s: %w", podRef(pod), field, err)
	}
	_ = os.Chmod(p, 0o777) // as kubelet: writable by any user of the pod
	switch v.EmptyDir.Medium {
	case corev1.StorageMediumDefault:
	case corev1.StorageMediumMemory:
		var size int64
		if v.EmptyDir.SizeLimit != nil {
			size = v.EmptyDir.SizeLimit.Value()
		}
		if err := m.tmpfs(pod, p, size, "mode=1777"); err != nil {
			return Volume{}, err
		}
	default:
		return Volume{}, podenv.ConfigErrorf("%s: emptyDir.medium %q is not supported: use \"\" or Memory", field, v.EmptyDir.Medium)
	}
	return Volume{HostPath: p}, nil
}

// writeVolume writes files into the volume directory p atomically (on a
// tmpfs when memory is set, as kubelet keeps secrets, downward API and
// projected volumes); such volumes are mounted read-only.
func (m *Manager) writeVolume(pod *corev1.Pod, p, field string, files map[string]file, memory bool) (Volume, error) {
	// A volume already written (..data present) has its tmpfs: a refresh
	// does not read the mount table again.
	if _, err := os.Lstat(filepath.Join(p, dataDirName)); memory && err != nil {
		if err := os.MkdirAll(p, 0o750); err != nil {
			return Volume{}, fmt.Errorf("volumes: pod %s: %s: %w", podRef(pod), field, err)
		}
		if err := m.tmpfs(pod, p, 0, "mode=0755"); err != nil {
			return Volume{}, err
		}
	}
	if err := writeAtomic(p, files); err != nil {
		return Volume{}, fmt.Errorf("volumes: pod %s: %s: write %s: %w", podRef(pod), field, p, err)
	}
	return Volume{HostPath: p, ReadOnly: true}, nil
}

func withField(field string, err error) error {
	if msg, ok := podenv.IsConfigError(err); ok {
		return podenv.ConfigErrorf("%s: %s", field, msg)
	}
	return err
}

// tmpfs mounts a tmpfs on dir when running as root and tmpfs is allowed;
// otherwise dir stays a plain directory, with a warning.
func (m *Manager) tmpfs(pod *corev1.Pod, dir string, size int64, opts string) error {
	if m.cfg.DisableTmpfs {
		return nil
	}
	if os.Geteuid() != 0 {
		m.cfg.Logger.Warn("not running as root: a memory-backed volume is a plain directory on disk", "pod", podRef(pod), "path", dir)
		return nil
	}
	if size > 0 {
		opts += fmt.Sprintf(",size=%d", size)
	}
	if err := mountTmpfs(dir, opts); err != nil {
		return fmt.Errorf("volumes: pod %s: mount a tmpfs on %s: %w", podRef(pod), dir, err)
	}
	return nil
}

// checkHostPath checks (and for the *OrCreate types, creates) a hostPath
// as its type says.
func checkHostPath(hp *corev1.HostPathVolumeSource) error {
	if !filepath.IsAbs(hp.Path) {
		return fmt.Errorf("hostPath.path %q must be absolute", hp.Path)
	}
	t := corev1.HostPathUnset
	if hp.Type != nil {
		t = *hp.Type
	}
	fi, err := os.Stat(hp.Path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hostPath %s: %w", hp.Path, err)
	}
	want := func(ok bool, what string) error {
		if !exists {
			return fmt.Errorf("hostPath type check failed: %s does not exist (type %s)", hp.Path, t)
		}
		if !ok {
			return fmt.Errorf("hostPath type check failed: %s is not a %s", hp.Path, what)
		}
		return nil
	}
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			return os.MkdirAll(hp.Path, 0o755)
		}
		return want(fi.IsDir(), "directory")
	case corev1.HostPathDirectory:
		return want(exists && fi.IsDir(), "directory")
	case corev1.HostPathFileOrCreate:
		if !exists {
			if err := os.MkdirAll(filepath.Dir(hp.Path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(hp.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return want(fi.Mode().IsRegular(), "file")
	case corev1.HostPathFile:
		return want(exists && fi.Mode().IsRegular(), "file")
	case corev1.HostPathSocket:
		return want(exists && fi.Mode()&fs.ModeSocket != 0, "socket")
	case corev1.HostPathCharDev:
		return want(exists && fi.Mode()&fs.ModeCharDevice != 0, "character device")
	case corev1.HostPathBlockDev:
		return want(exists && fi.Mode()&fs.ModeDevice != 0 && fi.Mode()&fs.ModeCharDevice == 0, "block device")
	}
	return fmt.Errorf("hostPath.type %q is not supported", t)
}

// file is one file of a configMap or secret volume.
type file struct {
	data []byte
	mode os.FileMode
}

// projectKeys picks the files of a volume from data: all keys, or the
// listed items.
func projectKeys(kind, name string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, optional bool) (map[string]file, error) {
	mode := os.FileMode(defaultFileMode)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode) & 0o777
	}
	out := map[string]file{}
	if len(items) == 0 {
		for k, v := range data {
			if _, err := itemPath(k); err != nil || strings.Contains(k, "/") {
				return nil, podenv.ConfigErrorf("%s %q: key %q cannot be a file name: list the keys in items with a path", kind, name, k)
			}
			out[k] = file{data: v, mode: mode}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, podenv.ConfigErrorf("%s %q references non-existent config key: %s", kind, name, it.Key)
		}
		p, err := itemPath(it.Path)
		if err != nil {
			return nil, podenv.ConfigErrorf("%s %q: items %v", kind, name, err)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode) & 0o777
		}
		out[p] = file{data: v, mode: m}
	}
	return out, nil
}

// itemPath checks the path of a volume file (relative, no '..' element,
// not starting with '..': those names are the atomic writer's) and
// returns it cleaned.
func itemPath(path string) (string, error) {
	p := filepath.Clean(path)
	if path == "" || filepath.IsAbs(path) || strings.HasPrefix(p, "..") || slices.Contains(strings.Split(path, "/"), "..") {
		return "", fmt.Errorf("path %q must be a relative path without '..' that does not start with '..'", path)
	}
	return p, nil
}

func configMapFiles(ctx context.Context, src *corev1.ConfigMapVolumeSource, objs Objects) (map[string]file, error) {
	optional := src.Optional != nil && *src.Optional
	cm, err := objs.ConfigMap(ctx, src.Name)
	if err != nil {
		return nil, err
	}
	if cm == nil {
		if optional {
			return map[string]file{}, nil
		}
		return nil, podenv.ConfigErrorf("configmap %q not found", src.Name)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return projectKeys("configmap", src.Name, data, src.Items, src.DefaultMode, optional)
}

func secretFiles(ctx context.Context, src *corev1.SecretVolumeSource, objs Objects) (map[string]file, error) {
	optional := src.Optional != nil && *src.Optional
	s, err := objs.Secret(ctx, src.SecretName)
	if err != nil {
		return nil, err
	}
	if s == nil {
		if optional {
			return map[string]file{}, nil
		}
		return nil, podenv.ConfigErrorf("secret %q not found", src.SecretName)
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return projectKeys("secret", src.SecretName, data, src.Items, src.DefaultMode, optional)
}

// Mounts turns the container's volumeMounts into runtime mounts; env
// gives the container's variables for subPathExpr.
func Mounts(spec *corev1.Container, vols map[string]Volume, env func(string) (string, bool)) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for i, vm := range spec.VolumeMounts {
		field := fmt.Sprintf("spec.containers[%s].volumeMounts[%d]", spec.Name, i)
		v, ok := vols[vm.Name]
		if !ok {
			return nil, podenv.ConfigErrorf("%s: the pod has no volume named %q", field, vm.Name)
		}
		if vm.MountPropagation != nil && *vm.MountPropagation != corev1.MountPropagationNone {
			return nil, podenv.ConfigErrorf("%s.mountPropagation: %s is not supported by bosun: leave it unset or None", field, *vm.MountPropagation)
		}
		if vm.RecursiveReadOnly != nil && *vm.RecursiveReadOnly != corev1.RecursiveReadOnlyDisabled {
			return nil, podenv.ConfigErrorf("%s.recursiveReadOnly: %s is not supported by bosun", field, *vm.RecursiveReadOnly)
		}
		if !filepath.IsAbs(vm.MountPath) {
			return nil, podenv.ConfigErrorf("%s.mountPath %q must be absolute", field, vm.MountPath)
		}
		host := v.HostPath
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = podenv.Expand(vm.SubPathExpr, env)
		}
		if sub != "" {
			clean := filepath.Clean(sub)
			if filepath.IsAbs(sub) || clean == ".." || strings.HasPrefix(clean, "../") {
				return nil, podenv.ConfigErrorf("%s.subPath %q must be a relative path without '..'", field, sub)
			}
			host = filepath.Join(host, clean)
			if _, err := os.Lstat(host); errors.Is(err, fs.ErrNotExist) {
				if v.ReadOnly {
					return nil, podenv.ConfigErrorf("%s.subPath %q does not exist in volume %q", field, sub, vm.Name)
				}
				if err := os.MkdirAll(host, 0o755); err != nil {
					return nil, fmt.Errorf("volumes: %s: create subPath: %w", field, err)
				}
			}
		}
		out = append(out, runtime.Mount{ContainerPath: vm.MountPath, HostPath: host, ReadOnly: vm.ReadOnly || v.ReadOnly})
	}
	return out, nil
}

// RemovePodDir unmounts what is mounted under the pod's directory and
// removes it, if it belongs to this node.
func (m *Manager) RemovePodDir(uid string) error {
	m.forgetClaims(uid)
	dir := m.PodDir(uid)
	b, err := os.ReadFile(filepath.Join(dir, podNodeFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	} else if err != nil {
		return fmt.Errorf("volumes: pod %s: %w", uid, err)
	} else if strings.TrimSpace(string(b)) != m.cfg.NodeName {
		return nil // another agent's
	}
	if err := unmountUnder(dir); err != nil {
		return fmt.Errorf("volumes: pod %s: unmount its volumes: %w", uid, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("volumes: pod %s: remove its directory: %w", uid, err)
	}
	return nil
}

// PodDirUIDs returns the UIDs of this node's pod directories.
func (m *Manager) PodDirUIDs() []string {
	entries, err := os.ReadDir(filepath.Join(m.cfg.RootDir, "pods"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(m.cfg.RootDir, "pods", e.Name(), podNodeFile))
		if err == nil && strings.TrimSpace(string(b)) == m.cfg.NodeName {
			out = append(out, e.Name())
		}
	}
	return out
}

// UnmountAll unmounts every mount at or under dir (the tmpfs of pods'
// secret, downwardAPI, projected and memory emptyDir volumes), deepest
// first. `bosun agent --cleanup` needs it for RootDir before removing the
// directory: pods' directories of an agent that is gone keep their mounts.
func UnmountAll(dir string) error {
	if err := unmountUnder(dir); err != nil {
		return fmt.Errorf("volumes: unmount under %s: %w", dir, err)
	}
	return nil
}
