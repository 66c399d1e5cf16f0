package containerd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/fifo"
)

// TimeFormat is the layout of the timestamp that starts every log line:
// RFC 3339 in UTC with nanoseconds, fixed width.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// maxLogLine is the longest piece of a line written as one log line; longer
// lines are split into partial ("P") pieces, as CRI does.
const maxLogLine = 16 << 10

// Log line tags, as in CRI's log format: a full line, or a piece of one.
const (
	tagFull    = "F"
	tagPartial = "P"
)

// logFile is a container's log file, shared by its stdout and stderr
// copiers and rotated by size.
type logFile struct {
	path string
	max  int64
	now  func() time.Time

	mu   sync.Mutex
	f    *os.File
	size int64
}

func openLogFile(path string, max int64, now func() time.Time) (*logFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &logFile{path: path, max: max, now: now, f: f, size: st.Size()}, nil
}

// writeLine writes one log line: timestamp, stream, tag and content.
func (l *logFile) writeLine(stream, tag string, content []byte) error {
	line := make([]byte, 0, len(TimeFormat)+len(stream)+len(content)+8)
	line = l.now().UTC().AppendFormat(line, TimeFormat)
	line = append(line, ' ')
	line = append(line, stream...)
	line = append(line, ' ')
	line = append(line, tag...)
	line = append(line, ' ')
	line = append(line, content...)
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return os.ErrClosed
	}
	if l.size > 0 && l.size+int64(len(line)) > l.max {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	n, err := l.f.Write(line)
	l.size += int64(n)
	return err
}

// rotate moves the file to path.1 and starts a new one. Callers hold l.mu.
func (l *logFile) rotate() error {
	if err := l.f.Close(); err != nil {
		return err
	}
	l.f = nil
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	l.f, l.size = f, 0
	return nil
}

func (l *logFile) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// copyLines copies r into l line by line until r ends.
func copyLines(r io.Reader, stream string, l *logFile) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := l.writeLine(stream, tagFull, line[:len(line)-1]); werr != nil {
				return
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := l.writeLine(stream, tagPartial, line); werr != nil {
				return
			}
		default:
			if len(line) > 0 {
				_ = l.writeLine(stream, tagFull, line)
			}
			return
		}
	}
}

// taskIO is the cio.IO of a container's task: it copies the task's stdout
// and stderr FIFOs into the container's log file.
type taskIO struct {
	fifos          *cio.FIFOSet
	stdout, stderr io.ReadCloser
	log            *logFile
	cancel         context.CancelFunc
	wg             sync.WaitGroup
	closeOnce      sync.Once
}

// newTaskIO opens the FIFOs (creating them when absent) and starts copying.
func (r *Runtime) newTaskIO(logPath string, fifos *cio.FIFOSet) (*taskIO, error) {
	lf, err := openLogFile(logPath, r.maxLog, r.now)
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: log file: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &taskIO{fifos: fifos, log: lf, cancel: cancel}
	open := func(path string) (io.ReadCloser, error) {
		if path == "" {
			return nil, nil
		}
		return fifo.OpenFifo(ctx, path, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
	}
	if t.stdout, err = open(fifos.Stdout); err == nil {
		t.stderr, err = open(fifos.Stderr)
	}
	if err != nil {
		t.closePipes()
		cancel()
		lf.close()
		return nil, fmt.Errorf("containerd runtime: open task fifos: %w", err)
	}
	for stream, rc := range map[string]io.ReadCloser{"stdout": t.stdout, "stderr": t.stderr} {
		if rc != nil {
			t.wg.Go(func() { copyLines(rc, stream, lf) })
		}
	}
	go func() {
		t.wg.Wait()
		lf.close()
	}()
	return t, nil
}

func (t *taskIO) closePipes() {
	for _, c := range []io.Closer{t.stdout, t.stderr} {
		if c != nil {
			c.Close()
		}
	}
}

// Config returns the FIFO paths given to the task.
func (t *taskIO) Config() cio.Config { return t.fifos.Config }

// Cancel stops waiting for the FIFOs to open.
func (t *taskIO) Cancel() { t.cancel() }

// Wait blocks until the task's output is copied (the task closed it).
func (t *taskIO) Wait() { t.wg.Wait() }

// Close stops copying and removes the FIFOs.
func (t *taskIO) Close() error {
	var err error
	t.closeOnce.Do(func() {
		t.cancel()
		t.closePipes()
		t.wg.Wait()
		t.log.close()
		err = t.fifos.Close()
	})
	return err
}

// detach stops copying but keeps the FIFOs, which the task still writes to:
// a later Runtime attaches to them again.
func (t *taskIO) detach() {
	t.closeOnce.Do(func() {
		t.cancel()
		t.closePipes()
		t.wg.Wait()
		t.log.close()
	})
}
