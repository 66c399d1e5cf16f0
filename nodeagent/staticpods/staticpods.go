package staticpods

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/manifests"
)

// Annotations of static and mirror pods, as kubelet sets them.
const (
	// AnnotationConfigSource says where a pod came from: "file" for static pods.
	AnnotationConfigSource = "kubernetes.io/config.source"
	// AnnotationConfigHash is a static pod's hash (also its UID).
	AnnotationConfigHash = "kubernetes.io/config.hash"
	// AnnotationConfigMirror marks a mirror pod; its value is the static pod's hash.
	AnnotationConfigMirror = "kubernetes.io/config.mirror"
	// AnnotationManifest is the manifest file a static pod was read from.
	AnnotationManifest = "bosun.dev/static-pod-manifest"
	// SourceFile is the config.source of static pods.
	SourceFile = "file"
)

// Defaults of Config.
const (
	DefaultRescan   = 20 * time.Second
	DefaultDebounce = 100 * time.Millisecond
)

// IsMirror reports whether pod is a mirror pod.
func IsMirror(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[AnnotationConfigMirror]
	return ok
}

// IsStatic reports whether pod is a static pod (read from a file).
func IsStatic(pod *corev1.Pod) bool {
	return pod.Annotations[AnnotationConfigSource] == SourceFile
}

// Config configures a Source.
type Config struct {
	// Dir is the manifest directory (--pod-manifest-path). It need not exist yet.
	Dir string
	// NodeName is the node the static pods run on: it is part of their
	// names (<name>-<node>) and hashes.
	NodeName string
	// Logger receives bad-file errors; nil discards.
	Logger *slog.Logger
	// Clock drives the debounce and the rescan; default the real clock.
	Clock clock.WithTicker
	// Rescan is how often the directory is read even without events; default 20s.
	Rescan time.Duration
	// Debounce is how long to wait after an event for more; default 100ms.
	Debounce time.Duration
	// OnError, when set, is called once per bad file and content (e.g. to
	// post a node Event), after the error was logged.
	OnError func(file string, err error)
}

// Source reads static pods from a directory and reports the whole set
// whenever it changes. Create it with New.
type Source struct {
	cfg Config
	log *slog.Logger

	// Run's goroutine only:
	byFile   map[string][]*corev1.Pod   // last good pods of each file
	reported map[string]map[string]bool // bad file -> the errors reported for it
	last     string                     // fingerprint of the last set handed out
	sent     bool                       // a set was handed out
}

// New checks cfg and returns a Source.
func New(cfg Config) (*Source, error) {
	if cfg.Dir == "" {
		return nil, errors.New("staticpods: a manifest directory is required")
	}
	if cfg.NodeName == "" {
		return nil, errors.New("staticpods: a node name is required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.Rescan, DefaultRescan)
	defaults.Positive(&cfg.Debounce, DefaultDebounce)
	return &Source{cfg: cfg, log: cfg.Logger.With("podManifestPath", cfg.Dir),
		byFile: map[string][]*corev1.Pod{}, reported: map[string]map[string]bool{}}, nil
}

// Run reads the directory and calls set with every static pod, then
// watches it (fsnotify, plus a rescan every Config.Rescan) and calls set
// again with the whole new set whenever it changed. The first call to set
// happens before Run starts watching, even when the directory is missing
// or empty (then with no pods). set must not block for long and must not
// change the pods. Run blocks until ctx ends and returns nil.
func (s *Source) Run(ctx context.Context, set func(pods []*corev1.Pod)) error {
	w, werr := fsnotify.NewWatcher()
	if werr != nil {
		s.log.Warn("cannot watch the static pod directory; it is only rescanned periodically", "error", werr)
	}
	watching := false
	watch := func() {
		if w == nil || watching {
			return
		}
		if err := w.Add(s.cfg.Dir); err == nil {
			watching = true
		}
	}
	if w != nil {
		defer w.Close()
	}
	watch()
	s.scan(set)
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	rescan := s.cfg.Clock.NewTicker(s.cfg.Rescan)
	defer rescan.Stop()
	var debounce clock.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			if debounce != nil {
				debounce.Stop()
			}
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Name == s.cfg.Dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				watching = false // the directory itself went away
			}
			if debounce == nil {
				debounce = s.cfg.Clock.NewTimer(s.cfg.Debounce)
				fire = debounce.C()
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			s.log.Warn("watching the static pod directory failed; relying on the periodic rescan", "error", err)
		case <-fire:
			debounce, fire = nil, nil
			watch()
			s.scan(set)
		case <-rescan.C():
			watch() // the directory may have appeared
			s.scan(set)
		}
	}
}

// scan reads the directory and calls set when the set of pods changed.
func (s *Source) scan(set func([]*corev1.Pod)) {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("cannot read the static pod directory; keeping the static pods as they are", "error", err)
		return
	}
	seen := map[string]bool{}
	var readOK []string // files read without error in this scan
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		switch strings.ToLower(filepath.Ext(name)) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		seen[name] = true
		path := filepath.Join(s.cfg.Dir, name)
		pods, err := ReadFile(path, s.cfg.NodeName)
		if err != nil {
			s.bad(path, err)
			continue // keep the file's last good pods
		}
		readOK = append(readOK, path)
		s.byFile[name] = pods
	}
	for name := range s.byFile {
		if !seen[name] {
			delete(s.byFile, name)
		}
	}
	for path := range s.reported {
		if !seen[filepath.Base(path)] {
			delete(s.reported, path)
		}
	}
	// One pod per name: the first file (by name) wins.
	var names []string
	for name := range s.byFile {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*corev1.Pod
	owner := map[string]string{}
	dupIn := map[string]bool{} // files with a pod defined earlier
	var fp strings.Builder
	for _, name := range names {
		for _, p := range s.byFile[name] {
			key := p.Namespace + "/" + p.Name
			if first, dup := owner[key]; dup {
				dupIn[filepath.Join(s.cfg.Dir, name)] = true
				s.bad(filepath.Join(s.cfg.Dir, name), fmt.Errorf("staticpods: pod %s is already defined in %s; this one is ignored", key, first))
				continue
			}
			owner[key] = name
			out = append(out, p)
			fp.WriteString(string(p.UID))
			fp.WriteByte(';')
		}
	}
	// A file that reads well and defines no duplicate is good again: a
	// later error in it is reported anew. A duplicate stays reported once.
	for _, path := range readOK {
		if !dupIn[path] {
			delete(s.reported, path)
		}
	}
	changed := !s.sent || fp.String() != s.last
	s.log.Debug("scanned the static pod directory", "pods", len(out), "changed", changed)
	if !changed {
		return
	}
	s.sent, s.last = true, fp.String()
	set(out)
}

// bad logs (once per distinct error) a file that cannot be used.
func (s *Source) bad(path string, err error) {
	if s.reported[path][err.Error()] {
		return
	}
	if s.reported[path] == nil {
		s.reported[path] = map[string]bool{}
	}
	s.reported[path][err.Error()] = true
	kept := ""
	if len(s.byFile[filepath.Base(path)]) > 0 {
		kept = "; the pods of its previous version keep running"
	}
	s.log.Error("static pod manifest is invalid: fix the file"+kept, "file", path, "error", err)
	if s.cfg.OnError != nil {
		s.cfg.OnError(path, err)
	}
}

// ReadFile decodes and validates the static pods of one manifest file and
// prepares them for node (see Prepare). Only kind Pod is allowed.
func ReadFile(path, node string) ([]*corev1.Pod, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("staticpods: %w", err)
	}
	objs, problems := manifests.Decode(filepath.Base(path), data, manifests.Limits{})
	if err := problems.Err(); err != nil {
		return nil, fmt.Errorf("staticpods: %s: %w", path, err)
	}
	if err := manifests.Validate(objs).Errors().Err(); err != nil {
		return nil, fmt.Errorf("staticpods: %s: %w", path, err)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("staticpods: %s: no pod in the file", path)
	}
	var pods []*corev1.Pod
	for _, o := range objs {
		p, ok := o.Obj.(*corev1.Pod)
		if !ok {
			return nil, fmt.Errorf("staticpods: %s:%d: %s is not a Pod: only pods can be static", path, o.Line, o.ID())
		}
		pods = append(pods, Prepare(p, node, path))
	}
	return pods, nil
}

// Prepare returns a copy of a decoded pod made into node's static pod, as
// kubelet does: named <name>-<node>, in namespace "default" unless it names
// one, bound to node, with a UID that hashes its content and the node, and
// the config.source, config.hash annotations (and the manifest's path).
func Prepare(p *corev1.Pod, node, path string) *corev1.Pod {
	pod := p.DeepCopy()
	pod.Status = corev1.PodStatus{}
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	pod.Spec.NodeName = node
	b, _ := json.Marshal(struct {
		Node string      `json:"node"`
		Pod  *corev1.Pod `json:"pod"`
	}{node, pod})
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:16])
	pod.Name = pod.Name + "-" + node
	pod.UID = types.UID(hash)
	ann := make(map[string]string, len(pod.Annotations)+3)
	for k, v := range pod.Annotations {
		ann[k] = v
	}
	ann[AnnotationConfigSource] = SourceFile
	ann[AnnotationConfigHash] = hash
	ann[AnnotationManifest] = path
	pod.Annotations = ann
	return pod
}

// Mirror returns the mirror pod of a static pod: its metadata and spec,
// the config.mirror annotation, and an owner reference to the node.
func Mirror(static *corev1.Pod, node *corev1.Node) *corev1.Pod {
	m := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        static.Name,
			Namespace:   static.Namespace,
			Labels:      static.Labels,
			Annotations: map[string]string{},
		},
		Spec: *static.Spec.DeepCopy(),
	}
	for k, v := range static.Annotations {
		m.Annotations[k] = v
	}
	m.Annotations[AnnotationConfigMirror] = string(static.UID)
	if node != nil && node.UID != "" {
		m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
	}
	return m
}
