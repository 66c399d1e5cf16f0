package testutil

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// fatalTB records Fatalf and ends its goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls wait with a fatalTB on its own goroutine and returns what it
// reported ("" when it returned normally).
func run(t *testing.T, wait func(tb testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait(f)
	}()
	<-done
	return f.msg
}

func TestEventually(t *testing.T) {
	tests := []struct {
		name      string
		holdAfter time.Duration // cond holds from then on; < 0: never
		timeout   time.Duration
		wantFatal string // "" = Eventually returns
		maxCalls  int    // cond is not polled more often than this
	}{
		{name: "holds at once", holdAfter: 0, timeout: time.Second, maxCalls: 1},
		{name: "holds before the deadline", holdAfter: 3 * time.Second, timeout: 10 * time.Second, maxCalls: 3*20 + 10},
		{name: "holds right at the deadline", holdAfter: 10 * time.Second, timeout: 10 * time.Second, maxCalls: 10*20 + 10},
		{name: "never holds", holdAfter: -1, timeout: 2 * time.Second,
			wantFatal: "timed out after 2s waiting for the thing; last: not yet (", maxCalls: 2*20 + 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				calls := 0
				var returned time.Duration
				msg := run(t, func(tb testing.TB) {
					Eventually(tb, tt.timeout, "the thing", func() (bool, string) {
						calls++
						elapsed := time.Since(start)
						if tt.holdAfter >= 0 && elapsed >= tt.holdAfter {
							return true, ""
						}
						return false, fmt.Sprintf("not yet (%s)", elapsed)
					})
					returned = time.Since(start)
				})
				if tt.wantFatal == "" {
					if msg != "" {
						t.Fatalf("Eventually failed: %s", msg)
					}
					if returned < tt.holdAfter || returned > tt.holdAfter+MaxInterval {
						t.Errorf("returned after %s, want within %s of %s", returned, MaxInterval, tt.holdAfter)
					}
				} else {
					if !strings.HasPrefix(msg, tt.wantFatal) {
						t.Errorf("failure %q, want it to start with %q", msg, tt.wantFatal)
					}
					// The last reason is the one given at the deadline.
					if want := fmt.Sprintf("(%s)", tt.timeout); !strings.HasSuffix(msg, want) {
						t.Errorf("failure %q: the last reason should be the one at the deadline, %s", msg, want)
					}
				}
				if calls > tt.maxCalls {
					t.Errorf("cond called %d times, want at most %d (backing off to %s)", calls, tt.maxCalls, MaxInterval)
				}
			})
		})
	}
}

func TestEventuallyTrue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if msg := run(t, func(tb testing.TB) {
			EventuallyTrue(tb, time.Second, "never", func() bool { return false })
		}); msg != "timed out after 1s waiting for never" {
			t.Errorf("failure %q", msg)
		}
		start := time.Now()
		if msg := run(t, func(tb testing.TB) {
			EventuallyTrue(tb, time.Minute, "soon", func() bool { return time.Since(start) > 5*time.Second })
		}); msg != "" {
			t.Errorf("EventuallyTrue failed: %s", msg)
		}
	})
}

// TestEventuallyEvery checks that the interval grows up to the longest one
// given and no further, and that a timeout reports the last reason.
func TestEventuallyEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var at []time.Duration
		start := time.Now()
		msg := run(t, func(tb testing.TB) {
			EventuallyEvery(tb, 2*time.Second, 200*time.Millisecond, "never", func() (bool, string) {
				at = append(at, time.Since(start))
				return false, fmt.Sprintf("call %d", len(at))
			})
		})
		if !strings.HasPrefix(msg, "timed out after 2s waiting for never; last: call ") {
			t.Errorf("failure %q", msg)
		}
		var longest time.Duration
		for i := 1; i < len(at); i++ {
			longest = max(longest, at[i]-at[i-1])
		}
		if longest != 200*time.Millisecond {
			t.Errorf("longest interval %v, want 200ms (calls at %v)", longest, at)
		}
		// 1+2+4+...+128 ms, then every 200 ms up to 2 s, and once at the deadline.
		if len(at) < 15 || len(at) > 20 {
			t.Errorf("%d calls in 2s, want about 17 (calls at %v)", len(at), at)
		}
	})
}

func TestEventuallyNoDiff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if msg := run(t, func(tb testing.TB) {
			EventuallyNoDiff(tb, 2*time.Second, "the diff to go", func() string { return fmt.Sprintf("-want +got (%s)", time.Since(start)) })
		}); msg != "timed out after 2s waiting for the diff to go; last: -want +got (2s)" {
			t.Errorf("failure %q", msg)
		}
		start = time.Now()
		if msg := run(t, func(tb testing.TB) {
			EventuallyNoDiff(tb, time.Minute, "soon", func() string {
				if time.Since(start) < 5*time.Second {
					return "not yet"
				}
				return ""
			})
		}); msg != "" {
			t.Errorf("EventuallyNoDiff failed: %s", msg)
		}
		if elapsed := time.Since(start); elapsed < 5*time.Second || elapsed > 5*time.Second+MaxInterval {
			t.Errorf("returned after %s, want within %s of 5s", elapsed, MaxInterval)
		}
	})
}
