package testutil

import (
	"testing"
	"time"
)

// Receive waits for a value from ch and returns it (the zero value when ch
// is closed); it fails t when nothing arrives within timeout, naming what
// was awaited. Like t.Fatal, Receive must be called from the goroutine
// running the test.
func Receive[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
		var zero T
		return zero
	}
}
