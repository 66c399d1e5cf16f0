package status

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Defaults of Config.
const (
	DefaultWriters    = 4
	DefaultMinBackoff = 200 * time.Millisecond
	DefaultMaxBackoff = time.Minute
)

// Client is the part of the API client the Manager uses.
type Client interface {
	// Get reads an object; a missing one is an error for which
	// client.IsNotFound holds.
	Get(ctx context.Context, r api.Resource, ns, name string) (api.Object, error)
	// UpdateStatus writes obj's status if its resourceVersion is current
	// (else client.IsConflict holds), and fills obj with what was stored.
	UpdateStatus(ctx context.Context, r api.Resource, obj api.Object) error
}

// Config configures a Manager. Client is required.
type Config struct {
	Client Client
	// OnWritten receives the pod as the API stored it after a write, or as
	// read after a conflict. It must not block.
	OnWritten func(pod *corev1.Pod)
	// Clock times the back-off after failed writes; default the real clock.
	Clock clock.WithTicker
	// Logger receives failed writes; nil discards.
	Logger *slog.Logger
	// Writers is how many pods' statuses are written at once; default 4.
	Writers int
	// MinBackoff and MaxBackoff bound the wait before a failed write is
	// tried again (doubling per failure of that pod); defaults 200ms and 1m.
	MinBackoff, MaxBackoff time.Duration
}

// Manager keeps the latest status of every pod until it is written.
type Manager struct {
	cfg   Config
	queue workqueue.TypedRateLimitingInterface[types.UID]
	pods  api.Resource

	mu      sync.Mutex
	pending map[types.UID]*entry

	writes atomic.Int64
}

// entry is the status to write for one pod.
type entry struct {
	pod     *corev1.Pod // namespace, name, UID and the resourceVersion to write at
	status  corev1.PodStatus
	version int // bumped by every SetPodStatus that changes status
}

// New returns a Manager; Run writes what it is given.
func New(cfg Config) (*Manager, error) {
	if cfg.Client == nil {
		return nil, fmt.Errorf("status: a client of the API is required")
	}
	if cfg.OnWritten == nil {
		cfg.OnWritten = func(*corev1.Pod) {}
	}
	defaults.Clock(&cfg.Clock)
	defaults.Logger(&cfg.Logger)
	defaults.Positive(&cfg.Writers, DefaultWriters)
	defaults.Positive(&cfg.MinBackoff, DefaultMinBackoff)
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	pods, ok := api.Lookup("pods")
	if !ok {
		return nil, fmt.Errorf("status: the registry has no pods resource")
	}
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](cfg.MinBackoff, cfg.MaxBackoff),
		workqueue.TypedRateLimitingQueueConfig[types.UID]{Clock: cfg.Clock})
	return &Manager{cfg: cfg, queue: q, pods: pods, pending: map[types.UID]*entry{}}, nil
}

// SetPodStatus asks for status to be written to pod (the pod as last seen
// in the API: its namespace, name, UID and resourceVersion). It never
// blocks. It does nothing when status is what the pod has or what is
// pending already; it replaces a pending status that was not written yet.
// It reports whether a write is now pending for a changed status.
func (m *Manager) SetPodStatus(pod *corev1.Pod, status corev1.PodStatus) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.pending[pod.UID]
	if e == nil {
		if sameJSON(pod.Status, status) {
			return false
		}
		e = &entry{pod: pod}
		m.pending[pod.UID] = e
	} else {
		if sameJSON(e.status, status) {
			return false
		}
		if api.NewerResourceVersion(pod.ResourceVersion, e.pod.ResourceVersion) {
			e.pod = pod
		}
	}
	e.status = status
	e.version++
	m.queue.Add(pod.UID)
	return true
}

// Pending returns the status waiting to be written for the pod uid, if
// any: the pod workers compute the next status from it rather than from
// the older one the API still has.
func (m *Manager) Pending(uid types.UID) (corev1.PodStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.pending[uid]; e != nil {
		return e.status, true
	}
	return corev1.PodStatus{}, false
}

// Forget drops what is pending for the pod uid (a pod torn down).
func (m *Manager) Forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pending, uid)
}

// WriteNow writes status to pod at once and returns when the API has it
// (or the pod is gone, which is not an error): the last status of a pod
// the agent is about to delete through the API, which must be stored
// before the delete. A pending status of the pod is dropped unless a newer
// one was set meanwhile. It returns the pod as stored, or nil when unknown.
func (m *Manager) WriteNow(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) (*corev1.Pod, error) {
	m.mu.Lock()
	e, version := m.pending[pod.UID], 0
	if e != nil {
		version = e.version
		if api.NewerResourceVersion(e.pod.ResourceVersion, pod.ResourceVersion) {
			pod = e.pod
		}
	}
	m.mu.Unlock()
	stored, done := pod, true
	if !sameJSON(pod.Status, status) {
		var err error
		if stored, done, err = m.write(ctx, pod, status); err != nil {
			return stored, err
		}
	}
	if done {
		m.dropIf(pod.UID, e, version)
	}
	return stored, nil
}

// dropIf forgets the pending entry of uid when it is still e, unchanged
// since version.
func (m *Manager) dropIf(uid types.UID, e *entry, version int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.pending[uid]; cur != nil && cur == e && cur.version == version {
		delete(m.pending, uid)
	}
}

// Writes returns how many status writes the API accepted.
func (m *Manager) Writes() int64 { return m.writes.Load() }

// Run writes pending statuses with Config.Writers goroutines until ctx
// ends, then waits for the writes under way.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for range m.cfg.Writers {
		wg.Go(func() {
			for m.writeNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	m.queue.ShutDown()
}

// writeNext writes one pod's latest status; false when the queue is shut down.
func (m *Manager) writeNext(ctx context.Context) bool {
	uid, shutdown := m.queue.Get()
	if shutdown {
		return false
	}
	defer m.queue.Done(uid)
	m.mu.Lock()
	e := m.pending[uid]
	var pod *corev1.Pod
	var status corev1.PodStatus
	var version int
	if e != nil {
		pod, status, version = e.pod, e.status, e.version
	}
	m.mu.Unlock()
	if e == nil {
		m.queue.Forget(uid)
		return true
	}
	stored, done, err := m.write(ctx, pod, status)
	m.mu.Lock()
	if cur := m.pending[uid]; cur == e {
		if stored != nil && api.NewerResourceVersion(stored.ResourceVersion, e.pod.ResourceVersion) {
			e.pod = stored
		}
		if done && e.version == version {
			delete(m.pending, uid)
		}
	}
	m.mu.Unlock()
	switch {
	case err != nil && ctx.Err() == nil:
		m.cfg.Logger.Warn("pod status write failed; retrying", "pod", pod.Namespace+"/"+pod.Name, "error", err)
		m.queue.AddRateLimited(uid)
	case err == nil:
		m.queue.Forget(uid)
	}
	return true
}

// write writes status to pod, re-reading it once after a conflict. It
// returns the pod as last stored (nil when unknown) and whether nothing is
// left to write for it (written, or the pod is gone).
func (m *Manager) write(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) (*corev1.Pod, bool, error) {
	ref := pod.Namespace + "/" + pod.Name
	var stored *corev1.Pod
	for try := 0; ; try++ {
		if sameJSON(pod.Status, status) && stored != nil {
			return stored, true, nil // the re-read pod has it already
		}
		out := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID,
				ResourceVersion: pod.ResourceVersion},
			Status: *status.DeepCopy(), // the answer is decoded into out: never into what SetPodStatus compares
		}
		err := m.cfg.Client.UpdateStatus(ctx, m.pods, out)
		if err == nil {
			m.writes.Add(1)
			m.cfg.OnWritten(out)
			return out, true, nil
		}
		if client.IsNotFound(err) {
			return stored, true, nil // deleted meanwhile: the watch says so
		}
		if !client.IsConflict(err) || try > 0 {
			return stored, false, fmt.Errorf("status: pod %s: write status: %w", ref, err)
		}
		fresh, err := m.cfg.Client.Get(ctx, m.pods, pod.Namespace, pod.Name)
		if client.IsNotFound(err) {
			return stored, true, nil
		}
		if err != nil {
			return stored, false, fmt.Errorf("status: pod %s: read after a conflict: %w", ref, err)
		}
		fp, ok := fresh.(*corev1.Pod)
		if !ok || fp.UID != pod.UID {
			return stored, true, nil // replaced by a pod of the same name
		}
		m.cfg.OnWritten(fp)
		stored, pod = fp, fp
		status = MergeTimes(status, fp.Status) // keep the transition and start times the API has
	}
}

// MergeTimes returns st with old's start time, and old's transition times
// for the conditions whose status did not change.
func MergeTimes(st, old corev1.PodStatus) corev1.PodStatus {
	if old.StartTime != nil {
		st.StartTime = old.StartTime
	}
	st.Conditions = append([]corev1.PodCondition(nil), st.Conditions...)
	for i := range st.Conditions {
		for _, o := range old.Conditions {
			if o.Type == st.Conditions[i].Type && o.Status == st.Conditions[i].Status {
				st.Conditions[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	return st
}

func sameJSON(a, b any) bool {
	x, errX := json.Marshal(a)
	y, errY := json.Marshal(b)
	return errX == nil && errY == nil && bytes.Equal(x, y)
}
