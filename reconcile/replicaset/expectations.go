package replicaset

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// DefaultExpectationsTimeout is how long the controller waits for the informer to
// report the pods it created or deleted before it looks at an owner again anyway,
// as Kubernetes' ControllerExpectations do.
const DefaultExpectationsTimeout = 5 * time.Minute

// expectations remember, per owner key, how many pod creations and which pod
// deletions the controller made and the pod informer has not reported yet. While
// some are outstanding the controller neither creates nor deletes pods for that
// owner, so a lagging cache never makes it act twice. It is safe for concurrent use.
type expectations struct {
	clock   clock.PassiveClock
	timeout time.Duration

	mu sync.Mutex
	m  map[string]*expectation
}

// expectation is one owner's outstanding work.
type expectation struct {
	adds    int                 // creations not yet observed
	deletes map[string]struct{} // keys of pods whose deletion is not yet observed
	at      time.Time           // when the expectation was set
}

func newExpectations(c clock.PassiveClock, timeout time.Duration) *expectations {
	return &expectations{clock: c, timeout: timeout, m: map[string]*expectation{}}
}

// satisfied reports whether the owner key has nothing outstanding (or waited past
// the timeout); when it does not, wait says how long until the timeout.
func (e *expectations) satisfied(key string) (ok bool, wait time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, found := e.m[key]
	if !found || (x.adds <= 0 && len(x.deletes) == 0) {
		return true, 0
	}
	waited := e.clock.Since(x.at)
	if waited >= e.timeout {
		return true, 0
	}
	return false, e.timeout - waited
}

// expectCreations records that n pods are about to be created for key.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: n, at: e.clock.Now()}
}

// expectDeletions records that the pods podKeys are about to be deleted for key.
func (e *expectations) expectDeletions(key string, podKeys []string) {
	set := make(map[string]struct{}, len(podKeys))
	for _, k := range podKeys {
		set[k] = struct{}{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{deletes: set, at: e.clock.Now()}
}

// creationObserved lowers key's outstanding creations by one: the informer saw a
// new pod, or a create failed and will never be seen.
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

// deletionObserved removes podKey from key's outstanding deletions, once.
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, podKey)
	}
}

// forget drops everything recorded for key (the owner is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
