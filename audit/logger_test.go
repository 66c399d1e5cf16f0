package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"
)

// readLines returns the lines of path, failing the test on a line that is
// not a whole JSON object.
func readLines(t *testing.T, path string) []Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: line %d is not one JSON object: %v: %q", path, len(out)+1, err, sc.Text())
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func newLogger(t *testing.T, cfg Config) *Logger {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestRequestEventJSON(t *testing.T) {
	received := time.Date(2026, 12, 7, 18, 0, 0, 123456000, time.UTC)
	logged := received.Add(2*time.Millisecond + 789*time.Nanosecond) // logged to the microsecond
	path := filepath.Join(t.TempDir(), "audit.log")
	l := newLogger(t, Config{Path: path, Now: func() time.Time { return logged }})

	req := httptest.NewRequest("POST", "/api/v1/namespaces/default/configmaps?fieldManager=kubectl", nil)
	req.RemoteAddr = "127.0.0.1:51234"
	req.Header.Set("User-Agent", "kubectl/v1.20 <x&y>")
	l.Log(context.Background(), RequestEvent(req, received, UserInfo{Username: "alice", Groups: []string{"dev"}}, "create",
		ObjectRef{Resource: "configmaps", Namespace: "default", Name: "UPPER", APIVersion: "v1"},
		ResponseStatus{Code: 422, Reason: "Invalid", Message: `ConfigMap "UPPER" is invalid`}))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("not one JSON object: %v: %s", err, b)
	}
	id, _ := got["auditID"].(string)
	if len(id) != 36 {
		t.Errorf("auditID = %q, want a UUID", id)
	}
	delete(got, "auditID")
	want := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
		"stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/default/configmaps?fieldManager=kubectl",
		"verb": "create", "user": map[string]any{"username": "alice", "groups": []any{"dev"}},
		"sourceIPs": []any{"127.0.0.1"}, "userAgent": "kubectl/v1.20 <x&y>",
		"objectRef":                map[string]any{"resource": "configmaps", "namespace": "default", "name": "UPPER", "apiVersion": "v1"},
		"responseStatus":           map[string]any{"code": float64(422), "reason": "Invalid", "message": `ConfigMap "UPPER" is invalid`},
		"requestReceivedTimestamp": "2026-12-07T18:00:00.123456Z",
		"stageTimestamp":           "2026-12-07T18:00:00.125456Z",
	}
	if !strings.Contains(string(b), `"kubectl/v1.20 <x&y>"`) {
		t.Errorf("line escapes <, > or &: %s", b)
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("line:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestRotation(t *testing.T) {
	// Lines of 1 KiB: 1,024 of them fill a 1 MB file.
	pad := strings.Repeat("x", 1024-len(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-0000-0000-000000000000","verb":"sync","user":{"username":""},"stageTimestamp":"2026-12-07T18:00:00Z","message":"0000:"}`+"\n"))
	at := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	const perFile = 1024
	tests := []struct {
		name       string
		maxBackups int
		files      int // files written: PATH and PATH.1 ... PATH.(files-1)
		wantKept   int // backups left
	}{
		{name: "oldest dropped", maxBackups: 2, files: 5, wantKept: 2},
		{name: "zero keeps all", maxBackups: 0, files: 4, wantKept: 3},
		{name: "no rotation needed", maxBackups: 2, files: 1, wantKept: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			l := newLogger(t, Config{Path: path, MaxSizeMB: 1, MaxBackups: tt.maxBackups, Now: func() time.Time { return at }, Buffer: 8, BlockTimeout: time.Minute})
			n := tt.files * perFile
			for i := range n {
				l.Log(context.Background(), Event{AuditID: "00000000-0000-0000-0000-000000000000", Verb: "sync", Message: fmt.Sprintf("%04d:%s", i%10000, pad)})
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if l.Dropped() != 0 {
				t.Fatalf("dropped %d events", l.Dropped())
			}
			// Newest first: PATH, PATH.1, ...; each full but the newest.
			next := n
			for i := 0; i <= tt.wantKept; i++ {
				name := path
				if i > 0 {
					name = fmt.Sprintf("%s.%d", path, i)
				}
				lines := readLines(t, name)
				if len(lines) != perFile {
					t.Fatalf("%s holds %d lines, want %d", filepath.Base(name), len(lines), perFile)
				}
				fi, _ := os.Stat(name)
				if fi.Size() > 1<<20 {
					t.Errorf("%s is %d bytes, over 1 MB", filepath.Base(name), fi.Size())
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v, want 0600", filepath.Base(name), fi.Mode().Perm())
				}
				next -= perFile
				if want := fmt.Sprintf("%04d:", next%10000); !strings.HasPrefix(lines[0].Message, want) {
					t.Errorf("%s starts with event %.5s, want %s", filepath.Base(name), lines[0].Message, want)
				}
			}
			if extra := fmt.Sprintf("%s.%d", path, tt.wantKept+1); exists(extra) {
				t.Errorf("%s exists; want at most %d old files", filepath.Base(extra), tt.wantKept)
			}
		})
	}
}

func TestConcurrentWritersWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	// Small files so that rotation happens while writers write.
	l := newLogger(t, Config{Path: path, MaxSizeMB: 1, MaxBackups: 0, BlockTimeout: time.Minute, Buffer: 16})
	const writers, each = 8, 500
	msg := strings.Repeat("m", 700)
	var wg gosync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				l.Log(context.Background(), Event{Verb: "create", User: UserInfo{Username: fmt.Sprintf("w%d", w)}, Message: fmt.Sprintf("%d/%d %s", w, i, msg)})
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	files, _ := filepath.Glob(path + "*")
	if len(files) < 2 {
		t.Fatalf("want a rotation during the writes, got files %v", files)
	}
	for _, f := range files {
		for _, e := range readLines(t, f) {
			key := strings.Fields(e.Message)[0]
			if seen[key] {
				t.Errorf("event %s written twice", key)
			}
			seen[key] = true
		}
	}
	if len(seen) != writers*each {
		t.Errorf("%d events in the files, want %d (dropped %d)", len(seen), writers*each, l.Dropped())
	}
}

// stallWriter blocks every write until release is closed.
type stallWriter struct {
	release chan struct{}
	mu      gosync.Mutex
	n       int
}

func (w *stallWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += strings.Count(string(p), "\n")
	return len(p), nil
}

func TestStalledDiskDropsWithoutBlocking(t *testing.T) {
	w := &stallWriter{release: make(chan struct{})}
	l, err := New(Config{Path: "-", Stdout: w, Buffer: 4, BlockTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	const n = 50
	for range n {
		l.Log(context.Background(), Event{Verb: "delete"})
	}
	// Each drop waits BlockTimeout at most: 50 events take well under 5 s.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("50 events on a stalled disk took %v", took)
	}
	dropped := l.Dropped()
	// The buffer holds 4 and the writer the few it took before the disk
	// stalled: most are dropped, but not all.
	if dropped < n/2 || dropped >= n {
		t.Errorf("dropped %d of %d events on a stalled disk with a buffer of 4", dropped, n)
	}
	close(w.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := uint64(w.n) + dropped; got != n {
		t.Errorf("written %d + dropped %d = %d, want %d: Close must flush what was queued", w.n, dropped, got, n)
	}
}

func TestNilLoggerIsNoOp(t *testing.T) {
	var l *Logger
	l.Log(context.Background(), Event{Verb: "create"})
	if l.Dropped() != 0 || l.Close() != nil {
		t.Error("a nil Logger must do nothing")
	}
	l, err := New(Config{})
	if err != nil || l != nil {
		t.Errorf("New without a path = %v, %v; want a nil Logger", l, err)
	}
}

func TestLogAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := newLogger(t, Config{Path: path})
	l.Log(context.Background(), Event{Verb: "create"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Log(context.Background(), Event{Verb: "update"}) // must not panic
	if got := readLines(t, path); len(got) != 1 || got[0].Verb != "create" {
		t.Errorf("lines = %+v, want the one event logged before Close", got)
	}
}

// BenchmarkLog measures what a caller pays per event, and the writer's
// throughput, logging to a file.
func BenchmarkLog(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.log")
	l, err := New(Config{Path: path, MaxSizeMB: 100, BlockTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("PATCH", "/apis/apps/v1/namespaces/demo/deployments/web", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	e := RequestEvent(req, time.Now(), UserInfo{Username: "alice", Groups: []string{"system:masters"}}, "patch",
		ObjectRef{Resource: "deployments", Namespace: "demo", Name: "web", APIGroup: "apps", APIVersion: "v1"}, ResponseStatus{Code: 200})
	b.ReportAllocs()
	for b.Loop() {
		l.Log(context.Background(), e)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if l.Dropped() != 0 {
		b.Fatalf("dropped %d", l.Dropped())
	}
}
