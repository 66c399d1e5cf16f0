package testutil

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestReceive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := make(chan int, 1)
		go func() {
			time.Sleep(2 * time.Second)
			ch <- 7
		}()
		if msg := run(t, func(tb testing.TB) {
			if got := Receive(tb, ch, 5*time.Second, "seven"); got != 7 {
				t.Errorf("Receive = %d, want 7", got)
			}
		}); msg != "" {
			t.Fatalf("Receive failed: %s", msg)
		}
		if msg := run(t, func(tb testing.TB) {
			Receive(tb, ch, 3*time.Second, "an eighth")
			t.Error("Receive returned without a value")
		}); msg != "timed out after 3s waiting for an eighth" {
			t.Errorf("failure %q", msg)
		}
		close(ch)
		if msg := run(t, func(tb testing.TB) {
			if got := Receive(tb, ch, time.Second, "the close"); got != 0 {
				t.Errorf("Receive on a closed channel = %d, want 0", got)
			}
		}); msg != "" {
			t.Errorf("Receive on a closed channel failed: %s", msg)
		}
	})
}
