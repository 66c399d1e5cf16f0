package testutil

import (
	"testing"
	"time"
)

// Poll intervals of Eventually: the first retry comes after MinInterval, and
// the interval doubles up to MaxInterval, so a condition that holds soon is
// seen soon and one that takes seconds does not keep a busy machine busier.
const (
	MinInterval = time.Millisecond
	MaxInterval = 50 * time.Millisecond
)

// Eventually calls cond until it returns true, and fails t when timeout
// passes first, naming what was awaited and the reason cond gave last. cond
// is always called at least once, and once more after the deadline, so a
// slow first call does not lose the last chance. Like t.Fatal, Eventually
// must be called from the goroutine running the test.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, reason string)) {
	t.Helper()
	if reason, ok := poll(timeout, MaxInterval, cond); !ok {
		t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, reason)
	}
}

// EventuallyEvery is Eventually with a longer longest interval between
// calls, for a benchmark or scale test whose cond is itself costly (a list of
// thousands of objects) and must not load the system it measures.
func EventuallyEvery(t testing.TB, timeout, maxInterval time.Duration, what string, cond func() (ok bool, reason string)) {
	t.Helper()
	if reason, ok := poll(timeout, max(maxInterval, MinInterval), cond); !ok {
		t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, reason)
	}
}

// EventuallyTrue is Eventually for a condition that has no reason to give.
func EventuallyTrue(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if _, ok := poll(timeout, MaxInterval, func() (bool, string) { return cond(), "" }); !ok {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// EventuallyNoDiff is Eventually for a condition that describes what is
// still wrong: a cmp.Diff, or any message; "" means the condition holds.
// The last description is the reason a timeout reports.
func EventuallyNoDiff(t testing.TB, timeout time.Duration, what string, diff func() string) {
	t.Helper()
	if reason, ok := poll(timeout, MaxInterval, func() (bool, string) { d := diff(); return d == "", d }); !ok {
		t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, reason)
	}
}

// poll calls cond until it holds or timeout passes, doubling the interval
// from MinInterval up to maxInterval; it returns cond's last reason and
// whether it held.
func poll(timeout, maxInterval time.Duration, cond func() (bool, string)) (string, bool) {
	deadline := time.Now().Add(timeout)
	interval := MinInterval
	for {
		ok, reason := cond()
		if ok {
			return "", true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return reason, false
		}
		time.Sleep(min(interval, left))
		interval = min(2*interval, maxInterval)
	}
}
