package testutil

import (
	"bufio"
	"testing"
	"time"
)

// ReadLine reads one line, with its newline, from a stream that delivers
// lines as they happen (a followed log, a watch), and fails t when none
// arrives within timeout. A line that ends the stream without a newline is
// returned as it is. Like t.Fatal, ReadLine must be called from the
// goroutine running the test; on a timeout the read it started is left to
// end with the stream.
func ReadLine(t testing.TB, r *bufio.Reader, timeout time.Duration) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() { s, _ := r.ReadString('\n'); ch <- s }()
	select {
	case s := <-ch:
		return s
	case <-time.After(timeout):
		t.Fatalf("no line in %s", timeout)
		return ""
	}
}
