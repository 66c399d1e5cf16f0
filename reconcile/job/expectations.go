package job

import (
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/client/cache"
)

// expectations remember, per Job key, the pods a pass created and deleted
// until the pod cache shows them (created pods present, deleted pods gone
// or marked for deletion). Meanwhile the controller neither creates nor
// deletes pods of that Job, so a lagging cache never makes it act twice,
// as Kubernetes' ControllerExpectations. Safe for concurrent use.
type expectations struct {
	clock   clock.PassiveClock
	timeout time.Duration

	mu sync.Mutex
	m  map[string]*expectation
}

// expectation is one Job's outstanding writes.
type expectation struct {
	namespace string
	created   []string
	deleted   []string
	at        time.Time
}

func newExpectations(c clock.PassiveClock, timeout time.Duration) *expectations {
	return &expectations{clock: c, timeout: timeout, m: map[string]*expectation{}}
}

// expect records the pods a pass of key created and deleted.
func (e *expectations) expect(key, namespace string, created, deleted []string) {
	if len(created) == 0 && len(deleted) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{namespace: namespace, created: created, deleted: deleted, at: e.clock.Now()}
}

// satisfied reports whether pods shows every write key expects (or the
// timeout passed); when not, wait is how long until the timeout.
func (e *expectations) satisfied(key string, pods *cache.Informer) (ok bool, wait time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	if x == nil {
		return true, 0
	}
	x.created = keep(x.created, func(name string) bool {
		_, found := pods.Get(x.namespace, name)
		return !found
	})
	x.deleted = keep(x.deleted, func(name string) bool {
		obj, found := pods.Get(x.namespace, name)
		return found && obj.GetDeletionTimestamp() == nil
	})
	elapsed := e.clock.Since(x.at)
	if (len(x.created) == 0 && len(x.deleted) == 0) || elapsed >= e.timeout {
		delete(e.m, key)
		return true, 0
	}
	return false, e.timeout - elapsed
}

// forget drops key's expectations (the Job is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// keep returns the names for which pending is true.
func keep(names []string, pending func(string) bool) []string {
	out := names[:0]
	for _, n := range names {
		if pending(n) {
			out = append(out, n)
		}
	}
	return out
}
