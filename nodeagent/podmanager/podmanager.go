package podmanager

import (
	"log/slog"
	"strings"
	"time"

	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent/staticpods"
)

// mirrorPrefix prefixes the keys of mirror pods ("mirror/<namespace>/<name>").
const mirrorPrefix = "mirror/"

// MirrorKey is the work key of the mirror pod namespace/name: the mirror is
// worked on by that key when no static pod owns it.
func MirrorKey(namespace, name string) string { return mirrorPrefix + namespace + "/" + name }

// ParseMirrorKey returns the namespace/name of a MirrorKey, and whether key is one.
func ParseMirrorKey(key string) (string, bool) { return strings.CutPrefix(key, mirrorPrefix) }

// ObjKey is a pod's namespace/name.
func ObjKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

// Config configures a Manager.
type Config struct {
	// Notify receives the key of every pod whose desired state may have
	// changed. It is called without the Manager's lock held and must not
	// block.
	Notify func(key string)
	// Listed is called once, after the first SetPods: the API's pods are
	// known, so pods the runtime has and the API does not are orphans.
	Listed func(pods int)
	// Logger receives the Manager's log; nil discards.
	Logger *slog.Logger
}

// Manager holds the desired pods of a node. It implements the PodHandler
// of package nodeagent.
type Manager struct {
	cfg Config

	mu         sync.Mutex
	pods       map[string]*corev1.Pod // the API's pods by UID (mirrors excluded)
	gone       map[string]*corev1.Pod // API pods deleted, not yet torn down, by UID
	goneAt     map[string]time.Time   // when each of them was first seen gone
	synced     bool                   // the API's pods were listed
	static     map[string]*corev1.Pod // static pods by UID, with their status as last computed
	staticGone map[string]*corev1.Pod // static pods removed, not yet torn down, by UID
	mirrors    map[string]*corev1.Pod // mirror pods in the API by namespace/name
}

// New returns an empty Manager.
func New(cfg Config) *Manager {
	if cfg.Notify == nil {
		cfg.Notify = func(string) {}
	}
	if cfg.Listed == nil {
		cfg.Listed = func(int) {}
	}
	defaults.Logger(&cfg.Logger)
	return &Manager{cfg: cfg,
		pods: map[string]*corev1.Pod{}, gone: map[string]*corev1.Pod{}, goneAt: map[string]time.Time{},
		static: map[string]*corev1.Pod{}, staticGone: map[string]*corev1.Pod{}, mirrors: map[string]*corev1.Pod{}}
}

func (m *Manager) notify(keys []string) {
	for _, k := range keys {
		m.cfg.Notify(k)
	}
}

// SetPods replaces the API's pods of the node (after every list). A pod
// known before and missing now is gone; a pod the Manager holds at a newer
// resourceVersion (returned by a status write) is kept.
func (m *Manager) SetPods(pods []*corev1.Pod) {
	m.mu.Lock()
	fresh := make(map[string]*corev1.Pod, len(pods))
	mirrors := map[string]*corev1.Pod{}
	for _, p := range pods {
		if staticpods.IsMirror(p) {
			mirrors[ObjKey(p)] = p
			continue
		}
		fresh[string(p.UID)] = p
	}
	var keys []string
	for uid, old := range m.pods {
		if _, ok := fresh[uid]; !ok {
			m.gone[uid] = old
			keys = append(keys, uid)
		}
	}
	for uid, p := range fresh {
		if old, ok := m.pods[uid]; ok && !NewerRV(p.ResourceVersion, old.ResourceVersion) {
			fresh[uid] = old // keep what a status write returned
		}
		delete(m.gone, uid)
		keys = append(keys, uid)
	}
	m.pods = fresh
	for key := range m.mirrors {
		if _, ok := mirrors[key]; !ok {
			keys = append(keys, mirrorPrefix+key)
		}
	}
	for key, mp := range mirrors {
		if old, ok := m.mirrors[key]; ok && old.UID == mp.UID && !NewerRV(mp.ResourceVersion, old.ResourceVersion) {
			mirrors[key] = old
		}
		keys = append(keys, mirrorPrefix+key)
	}
	m.mirrors = mirrors
	for uid := range m.static { // mirrors can be written now
		keys = append(keys, uid)
	}
	first := !m.synced
	m.synced = true
	m.mu.Unlock()
	m.notify(keys)
	if first {
		m.cfg.Logger.Info("pods listed", "pods", len(pods))
		m.cfg.Listed(len(pods))
	}
}

// UpsertPod records a pod added or changed in the API.
func (m *Manager) UpsertPod(p *corev1.Pod) {
	if staticpods.IsMirror(p) {
		m.mirrorChanged(p, false)
		return
	}
	uid := string(p.UID)
	m.mu.Lock()
	if old, ok := m.pods[uid]; !ok || NewerRV(p.ResourceVersion, old.ResourceVersion) {
		m.pods[uid] = p
	}
	delete(m.gone, uid)
	m.mu.Unlock()
	m.cfg.Notify(uid)
}

// DeletePod records a pod deleted from the API (its last state).
func (m *Manager) DeletePod(p *corev1.Pod) {
	if staticpods.IsMirror(p) {
		m.mirrorChanged(p, true)
		return
	}
	uid := string(p.UID)
	m.mu.Lock()
	delete(m.pods, uid)
	m.gone[uid] = p
	m.mu.Unlock()
	m.cfg.Notify(uid)
}

// mirrorChanged records a mirror pod event of the API and notifies its
// static pod (or, without one, the mirror's key).
func (m *Manager) mirrorChanged(mp *corev1.Pod, deleted bool) {
	key := ObjKey(mp)
	m.mu.Lock()
	old := m.mirrors[key]
	switch {
	case deleted:
		if old != nil && old.UID == mp.UID {
			delete(m.mirrors, key)
		}
	case old == nil || old.UID != mp.UID || NewerRV(mp.ResourceVersion, old.ResourceVersion):
		m.mirrors[key] = mp
	}
	sp := m.staticByKey(key)
	m.mu.Unlock()
	if sp != nil {
		m.cfg.Notify(string(sp.UID))
	} else {
		m.cfg.Notify(mirrorPrefix + key)
	}
}

// SetStaticPods replaces the static pods (the file source's handler). A
// static pod whose content did not change keeps the status computed so far.
func (m *Manager) SetStaticPods(pods []*corev1.Pod) {
	m.mu.Lock()
	fresh := make(map[string]*corev1.Pod, len(pods))
	var keys []string
	for _, p := range pods {
		uid := string(p.UID)
		if old, ok := m.static[uid]; ok {
			p = old
		}
		fresh[uid] = p
		delete(m.staticGone, uid)
		keys = append(keys, uid)
	}
	for uid, old := range m.static {
		if _, ok := fresh[uid]; !ok {
			m.staticGone[uid] = old
			keys = append(keys, uid, mirrorPrefix+ObjKey(old))
		}
	}
	m.static = fresh
	m.mu.Unlock()
	m.cfg.Logger.Info("static pods read", "pods", len(pods))
	m.notify(keys)
}

// Desired is what the Manager knows of one pod UID.
type Desired struct {
	// Pod is the pod to run: the API's, or a static pod; nil when none.
	Pod *corev1.Pod
	// Static says Pod is a static pod.
	Static bool
	// Gone is the last state of an API pod deleted and not yet torn down.
	Gone *corev1.Pod
	// StaticGone is a static pod removed (or changed) and not yet torn down.
	StaticGone *corev1.Pod
	// Synced says the API's pods were listed: before that, an unknown UID
	// may still be a pod of the API.
	Synced bool
}

// Get returns the desired state of the pod with this UID. The pods are
// shared: callers must not change them.
func (m *Manager) Get(uid string) Desired {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := Desired{Pod: m.pods[uid], Gone: m.gone[uid], StaticGone: m.staticGone[uid], Synced: m.synced}
	if d.Pod == nil && m.static[uid] != nil {
		d.Pod, d.Static = m.static[uid], true
	}
	return d
}

// Synced reports whether the API's pods were listed.
func (m *Manager) Synced() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.synced
}

// Known reports whether uid is a pod to run (of the API, or static).
func (m *Manager) Known(uid string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, api := m.pods[uid]
	_, static := m.static[uid]
	return api || static
}

// GoneSince returns when the pod uid was first seen gone, recording now
// the first time it is asked.
func (m *Manager) GoneSince(uid string, now time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.goneAt[uid]
	if !ok {
		at = now
		m.goneAt[uid] = at
	}
	return at
}

// TornDown forgets what was kept of the pod uid until its teardown: its
// last state and when it went (unless it came back meanwhile).
func (m *Manager) TornDown(uid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.goneAt, uid)
	if _, back := m.pods[uid]; !back {
		delete(m.gone, uid)
	}
	if _, back := m.static[uid]; !back {
		delete(m.staticGone, uid)
	}
}

// StorePod keeps a pod the API returned (after a status write, or a read
// after a conflict), if it is newer than the one held: an API pod by UID,
// a mirror pod by namespace/name.
func (m *Manager) StorePod(p *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if staticpods.IsMirror(p) {
		key := ObjKey(p)
		if old := m.mirrors[key]; old == nil || old.UID != p.UID || NewerRV(p.ResourceVersion, old.ResourceVersion) {
			m.mirrors[key] = p
		}
		return
	}
	if old, ok := m.pods[string(p.UID)]; ok && NewerRV(p.ResourceVersion, old.ResourceVersion) {
		m.pods[string(p.UID)] = p
	}
}

// SetStaticStatus keeps the status computed for the static pod uid and
// returns the pod with it (nil when uid is no static pod).
func (m *Manager) SetStaticStatus(uid string, status corev1.PodStatus) *corev1.Pod {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.static[uid]
	if cur == nil {
		return nil
	}
	cp := *cur
	cp.Status = status
	m.static[uid] = &cp
	return &cp
}

// Mirror returns the mirror pod namespace/name as the API last showed it,
// and the static pod of that name (either may be nil).
func (m *Manager) Mirror(key string) (mirror, static *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mirrors[key], m.staticByKey(key)
}

// MirrorDeleted forgets the mirror pod mp after the agent deleted it,
// unless the API showed a newer one meanwhile.
func (m *Manager) MirrorDeleted(mp *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if key := ObjKey(mp); m.mirrors[key] == mp {
		delete(m.mirrors, key)
	}
}

// Lookup returns a copy of the pod namespace/name the node runs: a static
// pod (named like its mirror), else an API pod.
func (m *Manager) Lookup(namespace, name string) (*corev1.Pod, bool) {
	key := namespace + "/" + name
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.staticByKey(key); p != nil {
		return p.DeepCopy(), true
	}
	for _, p := range m.pods {
		if ObjKey(p) == key {
			return p.DeepCopy(), true
		}
	}
	return nil, false
}

// staticByKey returns the static pod namespace/name. Callers hold m.mu.
func (m *Manager) staticByKey(key string) *corev1.Pod {
	for _, p := range m.static {
		if ObjKey(p) == key {
			return p
		}
	}
	return nil
}

// NewerRV reports whether resourceVersion a is newer than b; it is
// api.NewerResourceVersion.
func NewerRV(a, b string) bool { return api.NewerResourceVersion(a, b) }
