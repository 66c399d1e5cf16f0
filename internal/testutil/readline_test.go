package testutil

import (
	"bufio"
	"io"
	"testing"
	"testing/synctest"
	"time"
)

func TestReadLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		br := bufio.NewReader(pr)
		go func() {
			time.Sleep(time.Second)
			_, _ = io.WriteString(pw, "one\ntw")
			time.Sleep(time.Second)
			_, _ = io.WriteString(pw, "o\n")
		}()
		for _, want := range []string{"one\n", "two\n"} {
			if msg := run(t, func(tb testing.TB) {
				if got := ReadLine(tb, br, 5*time.Second); got != want {
					t.Errorf("line %q, want %q", got, want)
				}
			}); msg != "" {
				t.Fatalf("ReadLine failed: %s", msg)
			}
		}
		if msg := run(t, func(tb testing.TB) {
			ReadLine(tb, br, 3*time.Second)
			t.Error("ReadLine returned without a line")
		}); msg != "no line in 3s" {
			t.Errorf("failure %q, want %q", msg, "no line in 3s")
		}
		_ = pw.Close() // ends the read the timeout left behind
		synctest.Wait()

		// A stream that ends in the middle of a line.
		pr, pw = io.Pipe()
		go func() {
			_, _ = io.WriteString(pw, "thr")
			_ = pw.Close()
		}()
		if msg := run(t, func(tb testing.TB) {
			ReadLine(tb, bufio.NewReader(pr), 3*time.Second)
			t.Error("ReadLine returned a line the stream ended in the middle of")
		}); msg != `read: "thr", EOF` {
			t.Errorf("failure %q, want %q", msg, `read: "thr", EOF`)
		}
	})
}
