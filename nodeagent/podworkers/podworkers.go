package podworkers

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// Defaults of Config.
const (
	DefaultMaxConcurrent = 4
	DefaultMinBackoff    = 200 * time.Millisecond
	DefaultMaxBackoff    = time.Minute
)

// Result is what one sync asks of its worker.
type Result struct {
	// RequeueAfter asks for another sync after this long, unless a signal
	// comes first; 0 waits for a signal.
	RequeueAfter time.Duration
	// Done says that the key needs no worker any more (its pod is gone
	// and torn down): the worker ends, unless a signal came meanwhile.
	// Ignored when the sync failed or asked to be requeued.
	Done bool
}

// SyncFunc converges one key (a pod) on its desired state. It is never
// called twice at once for the same key. An error is logged and the sync
// retried after the back-off.
type SyncFunc func(ctx context.Context, key string) (Result, error)

// Config configures Workers. Sync is required.
type Config struct {
	// Sync is the work done for a key.
	Sync SyncFunc
	// Clock times requeues and back-offs; default the real clock.
	Clock clock.Clock
	// Logger receives failed syncs; nil discards.
	Logger *slog.Logger
	// MaxConcurrent is how many keys are synced at once; default 4. Idle
	// workers wait without holding a slot.
	MaxConcurrent int
	// MinBackoff and MaxBackoff bound the wait after a failed sync, which
	// doubles with every failure in a row; defaults 200ms and 1m.
	MinBackoff, MaxBackoff time.Duration
}

// Workers keeps one worker goroutine per key. Create it with New, Run it,
// and call Update whenever a key's desired or actual state may have changed.
type Workers struct {
	cfg Config
	sem chan struct{}

	mu      sync.Mutex
	workers map[string]*worker
	fresh   []*worker     // created, not yet started by Run
	wake    chan struct{} // tells Run that fresh has workers
	stopped bool
}

type worker struct {
	key    string
	signal chan struct{} // capacity 1: a pending sync
	syncs  atomic.Int64
}

// New returns Workers for cfg.
func New(cfg Config) *Workers {
	defaults.Clock(&cfg.Clock)
	defaults.Logger(&cfg.Logger)
	defaults.Positive(&cfg.MaxConcurrent, DefaultMaxConcurrent)
	defaults.Positive(&cfg.MinBackoff, DefaultMinBackoff)
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	return &Workers{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent),
		workers: map[string]*worker{}, wake: make(chan struct{}, 1)}
}

// Update asks for a sync of key: its worker is signalled, or created (and
// started by Run). It never blocks; signals that arrive while a sync of the
// key is pending or running collapse into one more sync. After Run has
// returned it does nothing.
func (w *Workers) Update(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	wk := w.workers[key]
	if wk == nil {
		wk = &worker{key: key, signal: make(chan struct{}, 1)}
		w.workers[key] = wk
		w.fresh = append(w.fresh, wk)
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	select {
	case wk.signal <- struct{}{}:
	default: // a sync is pending already
	}
}

// Syncs returns how many syncs of key its current worker has completed
// (failed ones included); 0 when key has no worker. Tests use it to wait
// for a sync rather than for time to pass.
func (w *Workers) Syncs(key string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wk := w.workers[key]; wk != nil {
		return wk.syncs.Load()
	}
	return 0
}

// Len returns how many keys have a worker.
func (w *Workers) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.workers)
}

// Run starts the workers of the keys given to Update, before and while it
// runs, until ctx ends; it then waits for every worker to return.
func (w *Workers) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		w.mu.Lock()
		fresh := w.fresh
		w.fresh = nil
		w.mu.Unlock()
		for _, wk := range fresh {
			wg.Go(func() { w.work(ctx, wk) })
		}
		select {
		case <-ctx.Done():
			w.mu.Lock()
			w.stopped = true
			w.mu.Unlock()
			return
		case <-w.wake:
		}
	}
}

// work is one key's goroutine: it syncs on signals and requeues, and ends
// when ctx ends or a sync says the key is done.
func (w *Workers) work(ctx context.Context, wk *worker) {
	var timer clock.Timer
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
			timer = nil
		}
	}
	defer stopTimer()
	failures := 0
	for {
		var timeout <-chan time.Time
		if timer != nil {
			timeout = timer.C()
		}
		select {
		case <-ctx.Done():
			return
		case <-wk.signal:
		case <-timeout:
		}
		stopTimer()
		select {
		case w.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		sl := &slot{release: func() { <-w.sem }}
		res, err := w.cfg.Sync(context.WithValue(ctx, slotKey{}, sl), wk.key)
		sl.free()
		wk.syncs.Add(1)
		if ctx.Err() != nil {
			return
		}
		wait := res.RequeueAfter
		if err != nil {
			backoff := w.backoff(failures)
			failures++
			w.cfg.Logger.Warn("pod sync failed; retrying", "podUID", wk.key, "error", err, "retryIn", backoff)
			if wait <= 0 || backoff < wait {
				wait = backoff
			}
		} else {
			failures = 0
		}
		if wait > 0 {
			timer = w.cfg.Clock.NewTimer(wait)
			continue
		}
		if err == nil && res.Done && w.retire(wk) {
			return
		}
	}
}

// slotKey is the context key of a sync's concurrency slot.
type slotKey struct{}

// slot is one sync's share of Config.MaxConcurrent.
type slot struct {
	once    sync.Once
	release func()
}

func (s *slot) free() { s.once.Do(s.release) }

// ReleaseSlot gives back the concurrency slot (Config.MaxConcurrent) of the
// sync whose ctx this is, for the rest of that sync: a sync about to wait
// a long time without using the node much (a pod's termination grace
// period, as kubelet's pod workers wait) calls it so that other pods' syncs
// are not held up. Calling it again, or with another context, does nothing.
func ReleaseSlot(ctx context.Context) {
	if s, ok := ctx.Value(slotKey{}).(*slot); ok {
		s.free()
	}
}

// backoff is the wait after failures+1 failed syncs in a row.
func (w *Workers) backoff(failures int) time.Duration {
	d := w.cfg.MinBackoff
	for range failures {
		d *= 2
		if d >= w.cfg.MaxBackoff {
			return w.cfg.MaxBackoff
		}
	}
	return d
}

// retire removes the worker unless a signal is pending, atomically with
// Update, so that no signal is lost.
func (w *Workers) retire(wk *worker) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(wk.signal) > 0 {
		return false
	}
	delete(w.workers, wk.key)
	return true
}
