package nodeagent

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// backoffs keeps the restart (and image pull) back-off of every container,
// as kubelet's: the first restart is immediate; after that a container that
// ends within the current delay waits it out, and the delay doubles up to
// Max; an entry older than Reset starts over.
type backoffs struct {
	cfg Backoff
	clk clock.Clock

	mu sync.Mutex
	m  map[string]map[string]*backoffEntry // pod UID -> key -> entry
}

type backoffEntry struct {
	delay time.Duration
	last  time.Time // the event time of the last restart
	msg   string    // the last failure's message (image pulls)
}

func newBackoffs(cfg Backoff, clk clock.Clock) *backoffs {
	return &backoffs{cfg: cfg, clk: clk, m: map[string]map[string]*backoffEntry{}}
}

// wait returns how long a restart of key must still wait after an event
// (exit, failed pull) at eventTime, and the current delay; 0 means go.
func (b *backoffs) wait(uid, key string, eventTime time.Time) (remaining, delay time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[uid][key]
	if e == nil || eventTime.Sub(e.last) > b.cfg.Reset {
		return 0, 0
	}
	rem := e.delay - b.clk.Since(eventTime)
	if rem <= 0 {
		return 0, e.delay
	}
	return rem, e.delay
}

// next records a restart of key for the event at eventTime and grows the delay.
func (b *backoffs) next(uid, key string, eventTime time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	byKey := b.m[uid]
	if byKey == nil {
		byKey = map[string]*backoffEntry{}
		b.m[uid] = byKey
	}
	e := byKey[key]
	switch {
	case e == nil || eventTime.Sub(e.last) > b.cfg.Reset:
		e = &backoffEntry{delay: b.cfg.Initial}
		byKey[key] = e
	default:
		e.delay = min(2*e.delay, b.cfg.Max)
	}
	e.last = eventTime
}

// forget drops the entries of a pod.
func (b *backoffs) forget(uid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, uid)
}

// failed records a failure of key now (an image pull), with its message,
// and grows the delay.
func (b *backoffs) failed(uid, key, msg string) {
	now := b.clk.Now()
	b.next(uid, key, now)
	b.mu.Lock()
	b.m[uid][key].msg = msg
	b.mu.Unlock()
}

// pending returns how long key must still wait since its last failure, and
// that failure's message; 0 and "" when it may go.
func (b *backoffs) pending(uid, key string) (time.Duration, string) {
	b.mu.Lock()
	e := b.m[uid][key]
	var last time.Time
	var msg string
	if e != nil {
		last, msg = e.last, e.msg
	}
	b.mu.Unlock()
	if e == nil {
		return 0, ""
	}
	rem, _ := b.wait(uid, key, last)
	return max(rem, 0), msg
}

// clear drops one entry (a pull that succeeded).
func (b *backoffs) clear(uid, key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m[uid], key)
}
