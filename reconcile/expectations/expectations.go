// Package expectations remembers, per owner, the pod creations and deletions
// a controller made that its pod cache has not shown yet, as Kubernetes'
// ControllerExpectations: while some are outstanding the controller neither
// creates nor deletes pods for that owner, so a lagging cache never makes it
// act twice. The ReplicaSet and DaemonSet controllers use it.
//
//	exp := expectations.New(clk, expectations.DefaultTimeout)
//	exp.Expect(key, 3, nil)         // about to create 3 pods
//	exp.CreationObserved(key)       // the informer saw one (or a create failed)
//	if ok, wait := exp.Satisfied(key); !ok { requeue after wait }
package expectations

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// DefaultTimeout is how long a controller waits for its cache to report the
// pods it created or deleted before it acts on an owner again anyway.
const DefaultTimeout = 5 * time.Minute

// Set holds the outstanding expectations of every owner. It is safe for
// concurrent use.
type Set struct {
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

// New returns an empty Set whose expectations lapse after timeout.
func New(c clock.PassiveClock, timeout time.Duration) *Set {
	return &Set{clock: c, timeout: timeout, m: map[string]*expectation{}}
}

// Satisfied reports whether the owner key has nothing outstanding (or waited
// past the timeout); when it does not, wait says how long until the timeout.
func (e *Set) Satisfied(key string) (ok bool, wait time.Duration) {
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

// Expect records, replacing what key expected before, that adds pods are
// about to be created and the pods podKeys ("namespace/name") deleted.
func (e *Set) Expect(key string, adds int, podKeys []string) {
	set := make(map[string]struct{}, len(podKeys))
	for _, k := range podKeys {
		set[k] = struct{}{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: adds, deletes: set, at: e.clock.Now()}
}

// CreationObserved lowers key's outstanding creations by one: the cache
// showed a new pod, or a create failed and will never be seen.
func (e *Set) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

// DeletionObserved removes podKey from key's outstanding deletions, once.
func (e *Set) DeletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, podKey)
	}
}

// Forget drops everything recorded for key (the owner is gone).
func (e *Set) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
