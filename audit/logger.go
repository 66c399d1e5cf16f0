package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Defaults of Config.
const (
	// DefaultBuffer is how many lines wait for the writer at most.
	DefaultBuffer = 1024
	// DefaultBlockTimeout is how long Log waits for room in a full buffer.
	DefaultBlockTimeout = 100 * time.Millisecond
	// dropWarnEvery is how many drops pass between two warnings.
	dropWarnEvery = 1000
)

// Config configures a Logger.
type Config struct {
	// Path is the audit log file (created mode 0600, appended to), or "-"
	// for standard output.
	Path string
	// MaxSizeMB rotates the file before it grows past this many megabytes
	// (2^20 bytes); 0 never rotates.
	MaxSizeMB int
	// MaxBackups is how many rotated files (PATH.1 newest ... PATH.N) are
	// kept; 0 keeps them all.
	MaxBackups int
	// Buffer is how many lines may wait for the writer (default DefaultBuffer).
	Buffer int
	// BlockTimeout is how long Log waits for room in a full buffer before
	// it drops the event (default DefaultBlockTimeout).
	BlockTimeout time.Duration
	// Logger receives the writer's errors and drop warnings (default: discarded).
	Logger *slog.Logger
	// Now is the clock of StageTimestamp (default time.Now).
	Now func() time.Time
	// Stdout is where Path "-" writes (default os.Stdout).
	Stdout io.Writer
}

// Logger writes audit events as JSON lines to a file that it rotates by
// size. Log may be called from any goroutine; a nil *Logger does nothing.
type Logger struct {
	cfg     Config
	maxSize int64
	lines   chan []byte
	done    chan struct{}
	dropped atomic.Uint64

	// mu guards closed against Log sending on the closed channel.
	mu     gosync.RWMutex
	closed bool

	// Owned by the writer goroutine.
	out  io.Writer
	file *os.File
	size int64
}

// New opens (or creates, mode 0600) the audit log cfg.Path and starts its
// writer. An empty Path returns a nil Logger, which logs nothing. Close
// flushes and stops it.
func New(cfg Config) (*Logger, error) {
	if cfg.Path == "" {
		return nil, nil
	}
	if cfg.MaxSizeMB < 0 || cfg.MaxBackups < 0 {
		return nil, fmt.Errorf("audit: %s: maximum size %d MB and backups %d must not be negative", cfg.Path, cfg.MaxSizeMB, cfg.MaxBackups)
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.BlockTimeout <= 0 {
		cfg.BlockTimeout = DefaultBlockTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	l := &Logger{cfg: cfg, maxSize: int64(cfg.MaxSizeMB) << 20, lines: make(chan []byte, cfg.Buffer), done: make(chan struct{})}
	if cfg.Path == "-" {
		l.out, l.maxSize = cfg.Stdout, 0
	} else if err := l.open(); err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

// Log completes e (kind, apiVersion, level, auditID, stageTimestamp) and
// queues it as one line. It waits at most Config.BlockTimeout (less if ctx
// ends first) for room, then drops the event and counts it in Dropped.
// After Close it drops silently.
func (l *Logger) Log(ctx context.Context, e Event) {
	if l == nil {
		return
	}
	line, err := l.encode(e)
	if err != nil {
		l.cfg.Logger.Error("audit: could not encode an event; it is lost", "verb", e.Verb, "err", err)
		l.drop()
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	select {
	case l.lines <- line:
		return
	default:
	}
	t := time.NewTimer(l.cfg.BlockTimeout)
	defer t.Stop()
	select {
	case l.lines <- line:
	case <-t.C:
		l.drop()
	case <-ctx.Done():
		l.drop()
	}
}

// Dropped returns how many events were lost: not queued in time, not
// encodable, or not written because the file could not be.
func (l *Logger) Dropped() uint64 {
	if l == nil {
		return 0
	}
	return l.dropped.Load()
}

// Close stops taking events, writes those queued, syncs and closes the
// file. It returns the first error of that last flush and close.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.lines)
	l.mu.Unlock()
	<-l.done
	if l.file == nil {
		return nil
	}
	err := l.file.Sync()
	if cerr := l.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit: close %s: %w", l.cfg.Path, err)
	}
	return nil
}

// encode fills in e's defaults and returns its line.
func (l *Logger) encode(e Event) ([]byte, error) {
	e.Kind, e.APIVersion, e.Level = KindEvent, APIVersion, LevelMetadata
	if e.AuditID == "" {
		e.AuditID = uuid.NewString()
	}
	if e.StageTimestamp.IsZero() {
		e.StageTimestamp = l.cfg.Now()
	}
	// Microseconds, as Kubernetes' MicroTime.
	e.StageTimestamp = e.StageTimestamp.UTC().Truncate(time.Microsecond)
	e.RequestReceivedTimestamp = e.RequestReceivedTimestamp.UTC().Truncate(time.Microsecond)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "Alice <alice@example.com>" stays readable
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// drop counts a lost event and warns on the first and every
// dropWarnEvery-th.
func (l *Logger) drop() {
	if n := l.dropped.Add(1); n%dropWarnEvery == 1 {
		l.cfg.Logger.Warn("audit: events dropped: the audit log cannot keep up (slow or full disk?)", "path", l.cfg.Path, "dropped", n)
	}
}

// run writes queued lines until the channel is closed, flushing whenever
// the queue is empty.
func (l *Logger) run() {
	defer close(l.done)
	w := bufio.NewWriterSize(writerFunc(l.write), 64<<10)
	for line := range l.lines {
		_, _ = w.Write(line)
		if len(l.lines) == 0 {
			_ = w.Flush()
		}
	}
	_ = w.Flush()
}

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

// Write calls f.
func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// write writes p, a run of whole lines, rotating first when it would take
// the file past the maximum size. A failed write drops its lines and
// reports success, so that bufio keeps going.
func (l *Logger) write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		chunk := p
		if l.maxSize > 0 {
			chunk = l.fit(p)
			if l.size > 0 && l.size+int64(len(chunk)) > l.maxSize {
				if err := l.rotate(); err != nil {
					l.cfg.Logger.Error("audit: could not rotate the audit log; writing on", "path", l.cfg.Path, "err", err)
				}
			}
		}
		n, err := l.out.Write(chunk)
		l.size += int64(n)
		if err != nil {
			lost := countLines(chunk)
			l.cfg.Logger.Error("audit: could not write the audit log", "path", l.cfg.Path, "lines", lost, "err", err)
			for range lost {
				l.drop()
			}
		}
		p = p[len(chunk):]
	}
	return total, nil
}

// fit returns the longest run of whole lines at the start of p that fits
// in what is left of the file, or p's first line if none fits (a new file
// takes it whatever its size).
func (l *Logger) fit(p []byte) []byte {
	room := l.maxSize - l.size
	end := 0
	for i, c := range p {
		if c != '\n' {
			continue
		}
		if int64(i+1) > room && end > 0 {
			break
		}
		end = i + 1
		if int64(end) > room {
			break
		}
	}
	if end == 0 {
		return p
	}
	return p[:end]
}

// countLines returns how many lines p holds (a last one without a newline
// included).
func countLines(p []byte) int {
	n := 0
	for i, c := range p {
		if c == '\n' || i == len(p)-1 {
			n++
		}
	}
	return n
}

// open opens the audit log for appending and learns its size.
func (l *Logger) open() error {
	f, err := os.OpenFile(l.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", l.cfg.Path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("audit: stat %s: %w", l.cfg.Path, err)
	}
	l.file, l.out, l.size = f, f, fi.Size()
	return nil
}

// rotate closes the file, shifts PATH.N to PATH.N+1 (removing what goes
// past MaxBackups) and PATH to PATH.1, and opens a new PATH.
func (l *Logger) rotate() error {
	if l.file != nil {
		if err := l.file.Close(); err != nil {
			l.cfg.Logger.Warn("audit: close before rotation", "path", l.cfg.Path, "err", err)
		}
	}
	shiftErr := l.shift()
	if err := l.open(); err != nil {
		// Nowhere to write: writes fail (and count as dropped) until a
		// later rotation opens the file again.
		l.file, l.out = nil, failWriter{err}
		return err
	}
	return shiftErr
}

// shift renames the rotated files one place up and PATH to PATH.1.
func (l *Logger) shift() error {
	last := l.cfg.MaxBackups
	if last == 0 {
		for last = 1; exists(l.backup(last)); last++ {
		}
	}
	if err := os.Remove(l.backup(last)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("audit: remove %s: %w", l.backup(last), err)
	}
	for i := last - 1; i >= 1; i-- {
		if err := os.Rename(l.backup(i), l.backup(i+1)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("audit: rename %s: %w", l.backup(i), err)
		}
	}
	if err := os.Rename(l.cfg.Path, l.backup(1)); err != nil {
		return fmt.Errorf("audit: rename %s: %w", l.cfg.Path, err)
	}
	return nil
}

// backup returns the name of the i-th rotated file.
func (l *Logger) backup(i int) string { return fmt.Sprintf("%s.%d", l.cfg.Path, i) }

// exists reports whether a file exists at path.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// failWriter fails every write with err.
type failWriter struct{ err error }

// Write returns w.err.
func (w failWriter) Write([]byte) (int, error) { return 0, w.err }
