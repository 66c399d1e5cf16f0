// Package execstream is the wire format of `bosun exec`: the output of a
// command run in a container, multiplexed on one byte stream (the body of
// the exec response, from the node agent through the API server to the
// client) as frames:
//
//	+----------+----------------------+-----------------+
//	| 1 byte   | 4 bytes, big-endian  | length bytes    |
//	| stream   | length               | payload         |
//	+----------+----------------------+-----------------+
//
// Stream 1 is stdout and 2 stderr (payload: output bytes); 3 is the exit
// code (payload: 4 bytes, big-endian signed), the last frame of a command
// that ran; 4 is an error (payload: a UTF-8 message), the last frame of
// one that could not run or was cut short. The request body, when the
// client sends stdin, is the command's raw stdin: no framing.
//
// bosun's exec is not kubectl's (SPDY or WebSocket with
// channel.k8s.io): it is plain HTTP/1.1 with a full-duplex body.
//
// Usage, on the serving side:
//
//	w := execstream.NewWriter(rw, flusher.Flush)
//	code, err := run(ctx, cmd, stdin, w.Stdout(), w.Stderr())
//	if err != nil {
//		_ = w.Error(err.Error())
//	} else {
//		_ = w.Exit(code)
//	}
//
// and on the client side:
//
//	code, err := execstream.Copy(resp.Body, os.Stdout, os.Stderr)
package execstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Stream ids of frames.
const (
	Stdout byte = 1
	Stderr byte = 2
	Exit   byte = 3
	Error  byte = 4
)

// ContentType is the media type of a framed exec stream.
const ContentType = "application/vnd.bosun.exec-stream"

// MaxFrame is the largest payload Copy accepts; Writer splits larger writes.
const MaxFrame = 1 << 20

// headerLen is the size of a frame header.
const headerLen = 5

// Writer writes frames to an underlying writer. It is safe for concurrent
// use: stdout and stderr may be written from different goroutines.
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	flush func()
	done  bool
}

// NewWriter returns a Writer on w; flush, when not nil, is called after
// every frame (e.g. http.Flusher.Flush), so output reaches the client as
// it is produced.
func NewWriter(w io.Writer, flush func()) *Writer {
	return &Writer{w: w, flush: flush}
}

// ErrClosed is returned by writes after Exit or Error.
var ErrClosed = errors.New("execstream: stream already ended")

func (w *Writer) frame(stream byte, payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return ErrClosed
	}
	var hdr [headerLen]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.w.Write(hdr[:]); err != nil {
		return fmt.Errorf("execstream: write: %w", err)
	}
	if _, err := w.w.Write(payload); err != nil {
		return fmt.Errorf("execstream: write: %w", err)
	}
	if w.flush != nil {
		w.flush()
	}
	if stream == Exit || stream == Error {
		w.done = true
	}
	return nil
}

type streamWriter struct {
	w      *Writer
	stream byte
}

func (s streamWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > MaxFrame {
			chunk = chunk[:MaxFrame]
		}
		if err := s.w.frame(s.stream, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// Stdout returns a writer whose writes become stdout frames.
func (w *Writer) Stdout() io.Writer { return streamWriter{w, Stdout} }

// Stderr returns a writer whose writes become stderr frames.
func (w *Writer) Stderr() io.Writer { return streamWriter{w, Stderr} }

// Exit writes the exit code frame, which ends the stream.
func (w *Writer) Exit(code int) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(code)))
	return w.frame(Exit, b[:])
}

// Error writes an error frame, which ends the stream.
func (w *Writer) Error(msg string) error { return w.frame(Error, []byte(msg)) }

// RemoteError is the message of an error frame: the command could not run
// or was cut short on the node.
type RemoteError struct {
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// ErrTruncated is wrapped by Copy's error when the stream ends without an
// exit code or error frame (the connection was lost).
var ErrTruncated = errors.New("execstream: the stream ended before the command's exit code")

// Copy reads frames from r, writing stdout and stderr payloads to stdout
// and stderr (nil discards), until the exit code frame, whose code it
// returns. An error frame is returned as a *RemoteError; a stream that
// ends early as an error wrapping ErrTruncated.
func Copy(r io.Reader, stdout, stderr io.Writer) (int, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	var hdr [headerLen]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, ErrTruncated
			}
			return 0, fmt.Errorf("%w: %w", ErrTruncated, err)
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > MaxFrame {
			return 0, fmt.Errorf("execstream: frame of %d bytes is larger than %d: not an exec stream", n, MaxFrame)
		}
		payload := io.LimitReader(r, int64(n))
		switch hdr[0] {
		case Stdout, Stderr:
			dst := stdout
			if hdr[0] == Stderr {
				dst = stderr
			}
			copied, err := io.Copy(dst, payload)
			if err != nil && copied < int64(n) {
				// The local writer failed: drain the frame so the stream stays in step.
				if _, derr := io.Copy(io.Discard, payload); derr != nil {
					return 0, fmt.Errorf("%w: %w", ErrTruncated, derr)
				}
			}
			if copied < int64(n) && err == nil {
				return 0, ErrTruncated
			}
		case Exit:
			var b [4]byte
			if n != 4 {
				return 0, fmt.Errorf("execstream: exit code frame of %d bytes, want 4", n)
			}
			if _, err := io.ReadFull(payload, b[:]); err != nil {
				return 0, ErrTruncated
			}
			return int(int32(binary.BigEndian.Uint32(b[:]))), nil
		case Error:
			b, err := io.ReadAll(payload)
			if err != nil || len(b) < int(n) {
				return 0, ErrTruncated
			}
			return 0, &RemoteError{Message: string(b)}
		default:
			return 0, fmt.Errorf("execstream: unknown stream %d: not an exec stream", hdr[0])
		}
	}
}
