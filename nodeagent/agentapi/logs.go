package agentapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// logs answers GET /containerLogs/{namespace}/{pod}/{container}.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) *apiError {
	ns, podName, name := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	follow, aerr := boolParam(r, "follow")
	if aerr != nil {
		return aerr
	}
	previous, aerr := boolParam(r, "previous")
	if aerr != nil {
		return aerr
	}
	timestamps, aerr := boolParam(r, "timestamps")
	if aerr != nil {
		return aerr
	}
	tail := -1
	if v := r.URL.Query().Get("tailLines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("tailLines=%q: want a number of lines, 0 or more", v)
		}
		tail = n
	}
	if s.cfg.Logs == nil {
		return newError(http.StatusNotImplemented, metav1.StatusReasonMethodNotAllowed,
			"this node's runtime keeps no container logs")
	}
	pod, cs, aerr := s.containers(r.Context(), ns, podName, name)
	if aerr != nil {
		return aerr
	}
	var c runtime.Container
	switch {
	case previous && len(cs) < 2:
		return badRequest("previous terminated container %q in pod %q not found", name, podName)
	case previous:
		c = cs[1]
	case len(cs) == 0 || cs[0].State == runtime.ContainerCreated:
		return badRequest("container %q in pod %q is waiting to start: ContainerCreating", name, podName)
	default:
		c = cs[0]
	}
	path := s.cfg.Logs.LogPath(string(pod.UID), name, c.Metadata.Attempt)
	ls, err := openLog(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return newError(http.StatusNotFound, metav1.StatusReasonNotFound,
				"the log of container %q in pod %q is gone (%v)", name, podName, err)
		}
		return newError(http.StatusInternalServerError, metav1.StatusReasonInternalError,
			"agentapi: open the log of container %q in pod %q: %v", name, podName, err)
	}
	defer ls.close()
	ls.timestamps = timestamps
	if tail >= 0 {
		total, err := ls.countLines()
		if err != nil {
			return newError(http.StatusInternalServerError, metav1.StatusReasonInternalError,
				"agentapi: read the log of container %q in pod %q: %v", name, podName, err)
		}
		ls.skip = max(total-tail, 0)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	ls.out = bufio.NewWriterSize(w, 32<<10)
	ls.flush = func() error {
		if err := ls.out.Flush(); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	if err := s.streamLog(r.Context(), ls, follow, c); err != nil {
		s.log.Debug("log stream ended", "pod", ns+"/"+podName, "container", name, "error", err)
	}
	return nil
}

// logStream turns CRI log files into what `logs` prints.
type logStream struct {
	path  string
	files []*os.File // the rotated part (if any), then the current file
	out   *bufio.Writer
	flush func() error

	timestamps bool
	skip       int  // full lines still to leave out (tailLines)
	midLine    bool // the last piece written was a partial line
	pending    []byte
}

// openLog opens path.1 (when present) and path.
func openLog(path string) (*logStream, error) {
	ls := &logStream{path: path}
	if f, err := os.Open(path + ".1"); err == nil {
		ls.files = append(ls.files, f)
	}
	f, err := os.Open(path)
	if err != nil {
		ls.close()
		return nil, err
	}
	ls.files = append(ls.files, f)
	return ls, nil
}

func (ls *logStream) close() {
	for _, f := range ls.files {
		f.Close()
	}
	ls.files = nil
}

// countLines counts the full lines of the files and rewinds them.
func (ls *logStream) countLines() (int, error) {
	n := 0
	for _, f := range ls.files {
		br := bufio.NewReaderSize(f, 64<<10)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 && (err == nil || errors.Is(err, io.EOF)) {
				if _, partial, _, ok := parseLine(bytes.TrimSuffix(line, []byte{'\n'})); !ok || !partial {
					n++
				}
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue // a long unparsable line: counted when it ends
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return 0, err
			}
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// parseLine splits a CRI log line "<time> <stream> <P|F> <content>".
func parseLine(line []byte) (ts []byte, partial bool, content []byte, ok bool) {
	parts := bytes.SplitN(line, []byte{' '}, 4)
	if len(parts) < 3 {
		return nil, false, nil, false
	}
	if s := string(parts[1]); s != "stdout" && s != "stderr" {
		return nil, false, nil, false
	}
	switch string(parts[2]) {
	case "F":
	case "P":
		partial = true
	default:
		return nil, false, nil, false
	}
	if len(parts) == 4 {
		content = parts[3]
	}
	return parts[0], partial, content, true
}

// emit writes one log line (without its newline).
func (ls *logStream) emit(line []byte) error {
	ts, partial, content, ok := parseLine(line)
	if !ok {
		ts, partial, content = nil, false, line
	}
	if ls.skip > 0 {
		if !partial {
			ls.skip--
		}
		return nil
	}
	if ls.timestamps && !ls.midLine && ts != nil {
		if t, err := time.Parse(time.RFC3339Nano, string(ts)); err == nil {
			ts = t.UTC().AppendFormat(nil, time.RFC3339Nano)
		}
		ls.out.Write(ts)
		ls.out.WriteByte(' ')
	}
	ls.out.Write(content)
	ls.midLine = partial
	if !partial {
		return ls.out.WriteByte('\n')
	}
	return nil
}

// drain reads what f holds now and writes its complete lines; an
// incomplete last line waits in ls.pending, unless final. It reports
// whether anything was read.
func (ls *logStream) drain(f *os.File, final bool) (bool, error) {
	buf := make([]byte, 32<<10)
	got := false
	for {
		n, err := f.Read(buf)
		if n > 0 {
			got = true
			ls.pending = append(ls.pending, buf[:n]...)
			rest := ls.pending
			for {
				i := bytes.IndexByte(rest, '\n')
				if i < 0 {
					break
				}
				if werr := ls.emit(rest[:i]); werr != nil {
					return got, werr
				}
				rest = rest[i+1:]
			}
			ls.pending = append(ls.pending[:0], rest...)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return got, err
		}
	}
	if final && len(ls.pending) > 0 {
		err := ls.emit(ls.pending)
		ls.pending = ls.pending[:0]
		return got, err
	}
	return got, nil
}

// streamLog writes the log, then, with follow, what is appended to it
// until the container has exited and its log stayed unchanged for a poll
// interval, or ctx ends.
func (s *Server) streamLog(ctx context.Context, ls *logStream, follow bool, c runtime.Container) error {
	for i, f := range ls.files {
		last := i == len(ls.files)-1
		if _, err := ls.drain(f, !follow || !last); err != nil {
			return err
		}
	}
	if err := ls.flush(); err != nil || !follow {
		return err
	}
	cur := ls.files[len(ls.files)-1]
	exited := c.State == runtime.ContainerExited
	quiet := 0
	ticker := time.NewTicker(s.cfg.PollInterval)
	defer ticker.Stop()
	for {
		got, err := ls.drain(cur, false)
		if err != nil {
			return err
		}
		if got {
			if err := ls.flush(); err != nil {
				return err
			}
			quiet = 0
		}
		if rotated(ls.path, cur) {
			// The file was renamed to path.1 and a new one started: finish
			// the old one (still open), then go on with the new one.
			if _, err := ls.drain(cur, true); err != nil {
				return err
			}
			nf, err := os.Open(ls.path)
			if err == nil {
				ls.files = append(ls.files, nf)
				cur = nf
				continue
			}
		}
		if got {
			continue
		}
		if exited {
			if quiet >= 1 {
				if _, err := ls.drain(cur, true); err != nil {
					return err
				}
				return ls.flush()
			}
			quiet++
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
		if !exited {
			cs, err := s.cfg.Runtime.ListContainers(ctx, runtime.ContainerFilter{ID: c.ID})
			if err == nil && (len(cs) == 0 || cs[0].State == runtime.ContainerExited) {
				exited = true
			}
		}
	}
}

// rotated reports whether path is no longer the file f.
func rotated(path string, f *os.File) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	cur, err := f.Stat()
	if err != nil {
		return false
	}
	return !os.SameFile(fi, cur)
}
