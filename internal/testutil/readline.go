package testutil

import (
	"bufio"
	"testing"
	"time"
)

// ReadLine reads one line, with its newline, from a stream that delivers
// lines as they happen (a followed log, a watch). It fails t when no line
// arrives within timeout, or when the stream ends or fails before the
// newline. Like t.Fatal, ReadLine must be called from the goroutine running
// the test; on a timeout the read it started is left to end with the
// stream.
func ReadLine(t testing.TB, r *bufio.Reader, timeout time.Duration) string {
	t.Helper()
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() { s, err := r.ReadString('\n'); ch <- line{s, err} }()
	select {
	case l := <-ch:
		if l.err != nil {
			t.Fatalf("read: %q, %v", l.s, l.err)
		}
		return l.s
	case <-time.After(timeout):
		t.Fatalf("no line in %s", timeout)
		return ""
	}
}
