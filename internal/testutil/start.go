package testutil

import (
	"context"
	"testing"
	"time"
)

// StopTimeout is how long Start waits, once the test ends, for run to
// return.
const StopTimeout = 10 * time.Second

// Start calls run on its own goroutine with a context that ends with the
// test, as the server runs a component's Run(ctx) error. When the test ends
// Start's cleanup cancels that context and waits for run to return; it
// fails the test when run returns an error or has not returned within
// StopTimeout. The returned cancel ends the context earlier, to stop run in
// the middle of a test; the cleanup still waits for it.
func Start(t testing.TB, run func(ctx context.Context) error) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(StopTimeout):
			t.Errorf("Run did not return within %s after its context ended", StopTimeout)
		}
	})
	return cancel
}
