package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
)

// recorder is a Reconciler that records calls per key and plays a script of
// outcomes for key "ns/a".
type recorder struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	calls map[string][]time.Time // key -> clock times of the calls
	steps []step
}

type step struct {
	res   Result
	err   error
	panic bool
}

func newRecorder(clk clock.PassiveClock, steps ...step) *recorder {
	return &recorder{clock: clk, calls: map[string][]time.Time{}, steps: steps}
}

func (r *recorder) Reconcile(_ context.Context, key string) (Result, error) {
	r.mu.Lock()
	n := len(r.calls[key])
	r.calls[key] = append(r.calls[key], r.clock.Now())
	var s step
	if key == "ns/a" && n < len(r.steps) {
		s = r.steps[n]
	}
	r.mu.Unlock()
	if s.panic {
		panic("boom")
	}
	return s.res, s.err
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls[key])
}

func (r *recorder) times(key string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.calls[key]...)
}

// startController runs c until the test ends and waits for Run to return then.
func startController(t *testing.T, c *Controller) context.CancelFunc {
	t.Helper()
	return testutil.Start(t, c.Run)
}

// flush proves that nothing about "ns/a" is pending, immediate or delayed, on a
// one-worker controller: a sentinel queued after the last outcome was handled is
// reconciled, then a delayed sentinel is made due after any delayed retry of
// "ns/a" would have been; when it has run, so would have any retry.
func flush(t *testing.T, c *Controller, r *recorder, clk *clocktesting.FakeClock) {
	t.Helper()
	c.Enqueue("sentinel-1")
	testutil.EventuallyTrue(t, 10*time.Second, "sentinel-1", func() bool { return r.count("sentinel-1") == 1 })
	clk.Step(time.Hour) // beyond every delay the tests use
	c.EnqueueAfter("sentinel-2", time.Second)
	clk.Step(2 * time.Second)
	testutil.EventuallyTrue(t, 10*time.Second, "sentinel-2", func() bool { return r.count("sentinel-2") == 1 })
}

func TestControllerOutcomes(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		steps     []step
		wantCalls int
		minGap    time.Duration // least fake time between the first two calls
	}{
		{name: "success is not retried", steps: nil, wantCalls: 1},
		{name: "error is retried with backoff", steps: []step{{err: errBoom}, {err: errBoom}}, wantCalls: 3, minGap: 5 * time.Millisecond},
		{name: "requeue is retried with backoff", steps: []step{{res: Result{Requeue: true}}}, wantCalls: 2, minGap: 5 * time.Millisecond},
		{name: "terminal error is not retried", steps: []step{{err: Terminal(errBoom)}}, wantCalls: 1},
		{name: "wrapped terminal error is not retried", steps: []step{{err: fmt.Errorf("web: %w", Terminal(errBoom))}}, wantCalls: 1},
		{name: "fenced write is not retried", steps: []step{{err: fmt.Errorf("update ns/a: %w", store.ErrFenced)}}, wantCalls: 1},
		{name: "panic is recovered and retried", steps: []step{{panic: true}}, wantCalls: 2, minGap: 5 * time.Millisecond},
		{name: "requeueAfter waits on the clock", steps: []step{{res: Result{RequeueAfter: time.Minute}}}, wantCalls: 2, minGap: time.Minute},
		{name: "error wins over requeueAfter", steps: []step{{res: Result{RequeueAfter: time.Minute}, err: errBoom}}, wantCalls: 2, minGap: 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// In a synctest bubble the real clock is virtual: backoffs and
			// RequeueAfter pass without waiting.
			synctest.Test(t, func(t *testing.T) {
				clk := clock.RealClock{}
				r := newRecorder(clk, tt.steps...)
				c := NewController("test", r, ControllerOptions{Workers: 1, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
				startController(t, c)
				c.Enqueue("ns/a")
				// Every delay the tests use is due within the hour; after it,
				// with every goroutine idle, no retry is pending.
				time.Sleep(time.Hour)
				synctest.Wait()
				times := r.times("ns/a")
				if len(times) != tt.wantCalls {
					t.Fatalf("Reconcile called %d times, want %d", len(times), tt.wantCalls)
				}
				if tt.wantCalls > 1 {
					if gap := times[1].Sub(times[0]); gap < tt.minGap {
						t.Errorf("second call %v after the first, want at least %v", gap, tt.minGap)
					}
				}
			})
		})
	}
}

func TestControllerDedupes(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	started := make(chan struct{})
	release := make(chan struct{})
	var first atomic.Bool
	r := newRecorder(clk)
	blocking := ReconcilerFunc(func(ctx context.Context, key string) (Result, error) {
		if key == "ns/a" && first.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
		return r.Reconcile(ctx, key)
	})
	c := NewController("dedupe", blocking, ControllerOptions{Workers: 1, Clock: clk})
	// Queued many times before Run: one key in the queue.
	for range 100 {
		c.Enqueue("ns/a")
	}
	if got := c.Len(); got != 1 {
		t.Fatalf("Len after 100 enqueues of one key = %d, want 1", got)
	}
	startController(t, c)
	<-started
	// Queued many times while being reconciled: exactly one more pass.
	for range 100 {
		c.Enqueue("ns/a")
	}
	close(release)
	testutil.EventuallyTrue(t, 10*time.Second, "second pass", func() bool { return r.count("ns/a") == 2 })
	flush(t, c, r, clk)
	if got := r.count("ns/a"); got != 2 {
		t.Errorf("Reconcile called %d times, want 2 (one pass, one more for the enqueues during it)", got)
	}
}

func TestControllerNeverSameKeyConcurrently(t *testing.T) {
	const keys, rounds = 5, 200
	var inflight [keys]atomic.Int32
	var overlaps, calls atomic.Int32
	r := ReconcilerFunc(func(ctx context.Context, key string) (Result, error) {
		var k int
		if _, err := fmt.Sscanf(key, "ns/k%d", &k); err != nil {
			return Result{}, Terminal(err)
		}
		if inflight[k].Add(1) > 1 {
			overlaps.Add(1)
		}
		for range 50 {
			runtime.Gosched() // widen the window for a second worker to take the key
		}
		inflight[k].Add(-1)
		calls.Add(1)
		return Result{}, nil
	})
	c := NewController("concurrency", r, ControllerOptions{Workers: 4})
	startController(t, c)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range rounds {
				c.Enqueue(fmt.Sprintf("ns/k%d", (i+g)%keys))
			}
		})
	}
	wg.Wait()
	testutil.EventuallyTrue(t, 10*time.Second, "queue to drain", func() bool { return c.Len() == 0 && calls.Load() > 0 })
	if n := overlaps.Load(); n != 0 {
		t.Errorf("a key was reconciled by two workers at once %d times", n)
	}
}

func TestControllerWorkersRunInParallel(t *testing.T) {
	var mu sync.Mutex
	inside := map[string]bool{}
	both := make(chan struct{})
	r := ReconcilerFunc(func(ctx context.Context, key string) (Result, error) {
		mu.Lock()
		inside[key] = true
		if len(inside) == 2 {
			close(both)
		}
		mu.Unlock()
		select { // each waits for the other: only possible with two workers
		case <-both:
		case <-ctx.Done():
		}
		return Result{}, nil
	})
	c := NewController("parallel", r, ControllerOptions{Workers: 2})
	startController(t, c)
	c.Enqueue("ns/a")
	c.Enqueue("ns/b")
	testutil.Receive(t, both, 10*time.Second, "two keys reconciled at the same time by two workers")
}

func TestControllerRunReturnsOnCancel(t *testing.T) {
	entered := make(chan struct{})
	var finished atomic.Bool
	r := ReconcilerFunc(func(ctx context.Context, key string) (Result, error) {
		close(entered)
		<-ctx.Done() // a long reconcile that honours ctx
		finished.Store(true)
		return Result{}, ctx.Err()
	})
	c := NewController("cancel", r, ControllerOptions{})
	if c.Name() != "cancel" {
		t.Errorf("Name = %q", c.Name())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	c.Enqueue("ns/a")
	<-entered
	cancel()
	if err := testutil.Receive(t, done, 10*time.Second, "Run to return after ctx ended"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if !finished.Load() {
		t.Error("Run returned before the Reconcile in progress returned")
	}
	c.Enqueue("ns/late") // after shutdown: dropped, must not block or panic
	c.EnqueueAfter("ns/late", time.Second)
}
