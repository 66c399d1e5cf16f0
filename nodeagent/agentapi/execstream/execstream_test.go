package execstream_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/nodeagent/agentapi/execstream"
)

func TestRoundTrip(t *testing.T) {
	big := strings.Repeat("x", execstream.MaxFrame+10) // split into two frames
	tests := []struct {
		name           string
		write          func(w *execstream.Writer) error
		stdout, stderr string
		code           int
		err            string
		remote         bool
		truncated      bool
	}{
		{name: "output and exit", write: func(w *execstream.Writer) error {
			w.Stdout().Write([]byte("out1 "))
			w.Stderr().Write([]byte("err"))
			w.Stdout().Write([]byte("out2"))
			return w.Exit(3)
		}, stdout: "out1 out2", stderr: "err", code: 3},
		{name: "negative exit code", write: func(w *execstream.Writer) error { return w.Exit(-1) }, code: -1},
		{name: "large write", write: func(w *execstream.Writer) error {
			w.Stdout().Write([]byte(big))
			return w.Exit(0)
		}, stdout: big},
		{name: "error", write: func(w *execstream.Writer) error {
			w.Stdout().Write([]byte("partial"))
			return w.Error("container went away")
		}, stdout: "partial", err: "container went away", remote: true},
		{name: "truncated", write: func(w *execstream.Writer) error {
			_, err := w.Stdout().Write([]byte("no end"))
			return err
		}, stdout: "no end", truncated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			flushes := 0
			w := execstream.NewWriter(&buf, func() { flushes++ })
			if err := tt.write(w); err != nil {
				t.Fatal(err)
			}
			if flushes == 0 {
				t.Error("never flushed")
			}
			var stdout, stderr bytes.Buffer
			code, err := execstream.Copy(&buf, &stdout, &stderr)
			var re *execstream.RemoteError
			switch {
			case tt.remote:
				if !errors.As(err, &re) || re.Message != tt.err {
					t.Fatalf("err %v, want remote %q", err, tt.err)
				}
			case tt.truncated:
				if !errors.Is(err, execstream.ErrTruncated) {
					t.Fatalf("err %v, want ErrTruncated", err)
				}
			case err != nil:
				t.Fatal(err)
			}
			if code != tt.code || stdout.String() != tt.stdout || stderr.String() != tt.stderr {
				t.Fatalf("code %d stdout %d bytes stderr %q", code, stdout.Len(), stderr.String())
			}
		})
	}
}

func TestWriteAfterEnd(t *testing.T) {
	w := execstream.NewWriter(&bytes.Buffer{}, nil)
	if err := w.Exit(0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Stdout().Write([]byte("late")); !errors.Is(err, execstream.ErrClosed) {
		t.Fatalf("write after exit: %v", err)
	}
}

func TestNotAStream(t *testing.T) {
	if _, err := execstream.Copy(strings.NewReader("HTTP/1.1 200 OK\r\n"), nil, nil); err == nil {
		t.Fatal("garbage accepted")
	}
}
