package daemonset

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// expectations remember, per DaemonSet key, how many pod creations and which
// pod deletions the controller made that the pod cache has not reported yet.
// While some are outstanding the controller creates and deletes nothing for
// that DaemonSet (it only reports status), so a lagging cache never makes it
// act twice, as Kubernetes' ControllerExpectations. Safe for concurrent use.
type expectations struct {
	clock   clock.PassiveClock
	timeout time.Duration

	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds    int
	deletes map[string]struct{}
	at      time.Time
}

func newExpectations(c clock.PassiveClock, timeout time.Duration) *expectations {
	return &expectations{clock: c, timeout: timeout, m: map[string]*expectation{}}
}

// satisfied reports whether key has nothing outstanding (or waited past the
// timeout); when not, wait is the time left until the timeout.
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

// expect records that adds pods are about to be created and the pods
// podKeys deleted for key.
func (e *expectations) expect(key string, adds int, podKeys []string) {
	set := make(map[string]struct{}, len(podKeys))
	for _, k := range podKeys {
		set[k] = struct{}{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: adds, deletes: set, at: e.clock.Now()}
}

// creationObserved lowers key's outstanding creations by one.
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

// deletionObserved removes podKey from key's outstanding deletions.
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, podKey)
	}
}

// forget drops everything recorded for key.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
