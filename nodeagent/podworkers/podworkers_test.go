package podworkers_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bosun-dev/bosun/nodeagent/podworkers"
)

// recorder is a SyncFunc that records its calls and answers per key.
type recorder struct {
	mu      sync.Mutex
	calls   map[string][]time.Time
	running map[string]bool
	active  int
	peak    int
	overlap bool
	answer  func(key string, n int) (podworkers.Result, error)
	gate    chan struct{} // when set, every sync waits for a receive
}

func newRecorder() *recorder {
	return &recorder{calls: map[string][]time.Time{}, running: map[string]bool{}}
}

func (r *recorder) sync(ctx context.Context, key string) (podworkers.Result, error) {
	r.mu.Lock()
	if r.running[key] {
		r.overlap = true
	}
	r.running[key] = true
	r.active++
	r.peak = max(r.peak, r.active)
	r.calls[key] = append(r.calls[key], time.Now())
	n := len(r.calls[key])
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	r.mu.Lock()
	r.running[key] = false
	r.active--
	r.mu.Unlock()
	if r.answer != nil {
		return r.answer(key, n)
	}
	return podworkers.Result{}, nil
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

// run starts w in the bubble and returns a func that stops it and waits.
func run(w *podworkers.Workers) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func TestSignalsDuringASyncCollapseIntoOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		r.gate = make(chan struct{})
		w := podworkers.New(podworkers.Config{Sync: r.sync})
		stop := run(w)
		defer stop()
		w.Update("a")
		synctest.Wait() // the first sync of a is running
		for range 5 {
			w.Update("a")
		}
		r.gate <- struct{}{} // first sync ends
		r.gate <- struct{}{} // one more sync, for all five signals
		synctest.Wait()
		if got := r.count("a"); got != 2 {
			t.Errorf("syncs of a = %d, want 2 (five signals during a sync make one more)", got)
		}
		if got := w.Syncs("a"); got != 2 {
			t.Errorf("Syncs(a) = %d, want 2", got)
		}
		if r.overlap {
			t.Error("two syncs of one key overlapped")
		}
	})
}

func TestConcurrencyIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		r.gate = make(chan struct{})
		w := podworkers.New(podworkers.Config{Sync: r.sync, MaxConcurrent: 2})
		stop := run(w)
		defer stop()
		for _, k := range []string{"a", "b", "c", "d"} {
			w.Update(k)
		}
		synctest.Wait()
		r.mu.Lock()
		active := r.active
		r.mu.Unlock()
		if active != 2 {
			t.Errorf("%d syncs running, want 2", active)
		}
		for range 4 {
			r.gate <- struct{}{}
		}
		synctest.Wait()
		if r.peak != 2 {
			t.Errorf("peak concurrency %d, want 2", r.peak)
		}
		for _, k := range []string{"a", "b", "c", "d"} {
			if r.count(k) != 1 {
				t.Errorf("syncs of %s = %d, want 1", k, r.count(k))
			}
		}
	})
}

func TestRequeueAndBackoff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(key string, n int) (podworkers.Result, error)
		syncs  int
		gaps   []time.Duration // between consecutive syncs
	}{
		{
			name: "requeue after",
			answer: func(_ string, n int) (podworkers.Result, error) {
				if n < 3 {
					return podworkers.Result{RequeueAfter: 5 * time.Second}, nil
				}
				return podworkers.Result{}, nil
			},
			syncs: 3, gaps: []time.Duration{5 * time.Second, 5 * time.Second},
		},
		{
			name: "failures double the wait, a success resets it",
			answer: func(_ string, n int) (podworkers.Result, error) {
				if n <= 3 || n == 5 {
					return podworkers.Result{}, errors.New("boom")
				}
				if n == 4 {
					return podworkers.Result{RequeueAfter: time.Second}, nil
				}
				return podworkers.Result{}, nil
			},
			syncs: 6, gaps: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
				time.Second, 200 * time.Millisecond},
		},
		{
			name: "a failure's requeue comes first when sooner than the back-off",
			answer: func(_ string, n int) (podworkers.Result, error) {
				if n == 1 {
					return podworkers.Result{RequeueAfter: 50 * time.Millisecond}, errors.New("boom")
				}
				return podworkers.Result{}, nil
			},
			syncs: 2, gaps: []time.Duration{50 * time.Millisecond},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRecorder()
				r.answer = tc.answer
				w := podworkers.New(podworkers.Config{Sync: r.sync})
				stop := run(w)
				w.Update("a")
				time.Sleep(time.Hour) // fake time: every requeue fires
				stop()
				times := r.times("a")
				if len(times) != tc.syncs {
					t.Fatalf("%d syncs, want %d", len(times), tc.syncs)
				}
				for i, want := range tc.gaps {
					if got := times[i+1].Sub(times[i]); got != want {
						t.Errorf("gap %d = %v, want %v", i, got, want)
					}
				}
			})
		})
	}
}

func TestSignalPreemptsARequeue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		r.answer = func(_ string, n int) (podworkers.Result, error) {
			if n == 1 {
				return podworkers.Result{RequeueAfter: time.Minute}, nil
			}
			return podworkers.Result{}, nil
		}
		w := podworkers.New(podworkers.Config{Sync: r.sync})
		stop := run(w)
		defer stop()
		w.Update("a")
		synctest.Wait()
		start := time.Now()
		w.Update("a")
		synctest.Wait()
		times := r.times("a")
		if len(times) != 2 || !times[1].Equal(start) {
			t.Fatalf("syncs at %v, want the second at once (%v)", times, start)
		}
		time.Sleep(2 * time.Minute)
		if got := r.count("a"); got != 2 {
			t.Errorf("%d syncs: the requeue of the first sync survived the second", got)
		}
	})
}

func TestDoneEndsTheWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		r.answer = func(key string, n int) (podworkers.Result, error) {
			return podworkers.Result{Done: key == "gone"}, nil
		}
		w := podworkers.New(podworkers.Config{Sync: r.sync})
		stop := run(w)
		defer stop()
		w.Update("gone")
		w.Update("live")
		synctest.Wait()
		if w.Len() != 1 || w.Syncs("live") != 1 || w.Syncs("gone") != 0 {
			t.Fatalf("workers %d, syncs live %d gone %d: want only live's worker left", w.Len(), w.Syncs("live"), w.Syncs("gone"))
		}
		w.Update("gone") // a new worker
		synctest.Wait()
		if r.count("gone") != 2 || w.Len() != 1 {
			t.Errorf("syncs of gone %d, workers %d: want a new worker that syncs and ends", r.count("gone"), w.Len())
		}
	})
}

func TestUpdateBeforeRunAndAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		w := podworkers.New(podworkers.Config{Sync: r.sync})
		w.Update("early")
		stop := run(w)
		synctest.Wait()
		if r.count("early") != 1 {
			t.Errorf("a key given before Run was synced %d times, want 1", r.count("early"))
		}
		stop()
		w.Update("late")
		synctest.Wait()
		if r.count("late") != 0 {
			t.Error("a key given after Run returned was synced")
		}
	})
}

// TestReleaseSlotLetsOthersSync: with one slot, a sync that releases it
// while it waits does not hold up another key's sync; one that keeps it does.
func TestReleaseSlotLetsOthersSync(t *testing.T) {
	tests := []struct {
		name     string
		release  bool
		wantNext bool
	}{
		{name: "released", release: true, wantNext: true},
		{name: "kept", release: false, wantNext: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				gate := make(chan struct{})
				var mu sync.Mutex
				synced := map[string]int{}
				w := podworkers.New(podworkers.Config{MaxConcurrent: 1, Sync: func(ctx context.Context, key string) (podworkers.Result, error) {
					mu.Lock()
					synced[key]++
					mu.Unlock()
					if key == "slow" {
						if tt.release {
							podworkers.ReleaseSlot(ctx)
							podworkers.ReleaseSlot(ctx) // twice is harmless
						}
						select {
						case <-gate:
						case <-ctx.Done():
						}
					}
					return podworkers.Result{}, nil
				}})
				stop := run(w)
				w.Update("slow")
				synctest.Wait()
				w.Update("fast")
				synctest.Wait()
				mu.Lock()
				got := synced["fast"] == 1
				mu.Unlock()
				if got != tt.wantNext {
					t.Errorf("fast synced while slow waits = %v, want %v", got, tt.wantNext)
				}
				close(gate)
				synctest.Wait()
				mu.Lock()
				if synced["fast"] != 1 || synced["slow"] != 1 {
					t.Errorf("syncs = %v, want one each", synced)
				}
				mu.Unlock()
				stop()
			})
		})
	}
}
