package agentapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/agentapi"
	"github.com/bosun-dev/bosun/nodeagent/agentapi/execstream"
	"github.com/bosun-dev/bosun/nodeagent/host"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
	"github.com/bosun-dev/bosun/nodeagent/stats"
)

const image = "bosun.local/test:v1"

// pods is a PodLookup over a map.
type pods struct {
	mu sync.Mutex
	m  map[string]*corev1.Pod
}

func (p *pods) LookupPod(namespace, name string) (*corev1.Pod, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pod, ok := p.m[namespace+"/"+name]
	return pod, ok
}

// dirLogs keeps logs as the containerd runtime does, in a directory.
type dirLogs string

func (d dirLogs) LogPath(podUID, name string, attempt uint32) string {
	return filepath.Join(string(d), podUID, name, strconv.FormatUint(uint64(attempt), 10)+".log")
}

// appendLog appends CRI log lines ("stdout F text" or "stderr P text") to a
// file, with timestamps; a line starting with "!" is written as it is.
func appendLog(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, l := range lines {
		ts := time.Date(2026, 11, 22, 0, 0, i, 500, time.UTC).Format("2006-01-02T15:04:05.000000000Z07:00") + " "
		if raw, ok := strings.CutPrefix(l, "!"); ok {
			ts, l = "", raw
		}
		if _, err := fmt.Fprintf(f, "%s%s\n", ts, l); err != nil {
			t.Fatal(err)
		}
	}
}

// fixture is an agent API on the fake runtime with one pod "web" (UID
// uid-web) in namespace "default" with containers "app" and "side".
type fixture struct {
	rt   *runtimetest.Fake
	logs dirLogs
	url  string
	sb   string
	ca   *testCA
	// hc presents the API server's certificate (CN bosun:apiserver, group
	// system:masters).
	hc *http.Client
	// stats serves /stats/summary; it samples only when told.
	stats *stats.Collector
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rt := runtimetest.New(runtimetest.Config{PodCIDR: "10.42.0.0/24", Images: map[string]runtimetest.Behavior{image: {Exec: fakeExec}}})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: types.UID("uid-web")},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}, {Name: "side", Image: image}}},
	}
	ctx := context.Background()
	sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{Name: "web", Namespace: "default", UID: "uid-web"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.PullImage(ctx, image); err != nil {
		t.Fatal(err)
	}
	logs := dirLogs(t.TempDir())
	ca := newTestCA(t, "cluster CA")
	nodeCert := ca.issue(t, "system:node:n1", "system:nodes")
	coll, err := stats.New(stats.Config{NodeName: "n1", Runtime: rt, Host: func() (host.Usage, error) {
		return host.Usage{CPUUsageNanos: 1e9, MemoryWorkingSetBytes: 1 << 30}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := agentapi.New(agentapi.Config{
		Stats:          coll,
		Pods:           &pods{m: map[string]*corev1.Pod{"default/web": pod}},
		Runtime:        rt,
		Logs:           logs,
		PollInterval:   5 * time.Millisecond,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &nodeCert, nil },
		ClientCAs:      ca.pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Start(t, func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	apiserverCert := ca.issue(t, "bosun:apiserver", "system:masters")
	return &fixture{rt: rt, logs: logs, url: "https://" + ln.Addr().String(), sb: sb.ID, ca: ca, hc: httpClient(ca, &apiserverCert), stats: coll}
}

// start creates and starts attempt of container name, stopping the one before.
func (f *fixture) start(t *testing.T, name string, attempt uint32) string {
	t.Helper()
	ctx := context.Background()
	cs, _ := f.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: f.sb})
	for _, c := range cs {
		if c.Metadata.Name == name && c.State == runtime.ContainerRunning {
			if err := f.rt.StopContainer(ctx, c.ID, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	id, err := f.rt.CreateContainer(ctx, f.sb, runtime.ContainerConfig{Metadata: runtime.ContainerMetadata{Name: name, Attempt: attempt}, Image: image})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) logPath(name string, attempt uint32) string {
	return f.logs.LogPath("uid-web", name, attempt)
}

// fakeExec: "echo ARGS" prints them, "cat" copies stdin, "fail N" prints to
// stderr and exits N.
func fakeExec(_ string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch cmd[0] {
	case "echo":
		fmt.Fprintln(stdout, strings.Join(cmd[1:], " "))
		return 0
	case "cat":
		if stdin == nil {
			return 2
		}
		if _, err := io.Copy(stdout, stdin); err != nil {
			return 3
		}
		return 0
	case "fail":
		n, _ := strconv.Atoi(cmd[1])
		fmt.Fprintln(stderr, "failing")
		return n
	}
	fmt.Fprintf(stderr, "%s: not found\n", cmd[0])
	return 127
}

func get(t *testing.T, hc *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func statusMessage(t *testing.T, body string) string {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" {
		t.Fatalf("not a Status: %q (%v)", body, err)
	}
	return st.Message
}

func TestLogs(t *testing.T) {
	f := newFixture(t)
	f.start(t, "app", 0)
	appendLog(t, f.logPath("app", 0), "stdout F old one", "stderr F old two")
	f.start(t, "app", 1)
	// attempt 1 was rotated once: its older part is in .log.1
	appendLog(t, f.logPath("app", 1)+".1", "stdout F first", "stdout F second")
	appendLog(t, f.logPath("app", 1), "stderr F third", "stdout P fou", "stdout P r", "stdout F th", "stdout F fifth", "!not a CRI line")
	f.start(t, "side", 0) // never logged: its file does not exist

	tests := []struct {
		name     string
		path     string
		query    url.Values
		code     int
		want     string // body, or the Status message for errors
		contains string
	}{
		{name: "all", path: "default/web/app", code: 200,
			want: "first\nsecond\nthird\nfourth\nfifth\nnot a CRI line\n"},
		{name: "tail", path: "default/web/app", query: url.Values{"tailLines": {"4"}}, code: 200,
			want: "third\nfourth\nfifth\nnot a CRI line\n"},
		{name: "tail spans the rotated file", path: "default/web/app", query: url.Values{"tailLines": {"5"}}, code: 200,
			want: "second\nthird\nfourth\nfifth\nnot a CRI line\n"},
		{name: "tail zero", path: "default/web/app", query: url.Values{"tailLines": {"0"}}, code: 200, want: ""},
		{name: "tail more than there is", path: "default/web/app", query: url.Values{"tailLines": {"100"}}, code: 200,
			want: "first\nsecond\nthird\nfourth\nfifth\nnot a CRI line\n"},
		{name: "previous", path: "default/web/app", query: url.Values{"previous": {"true"}}, code: 200,
			want: "old one\nold two\n"},
		{name: "timestamps", path: "default/web/app", query: url.Values{"previous": {"true"}, "timestamps": {"true"}}, code: 200,
			want: "2026-11-22T00:00:00.0000005Z old one\n2026-11-22T00:00:01.0000005Z old two\n"},
		{name: "timestamps of a split line once", path: "default/web/app", query: url.Values{"timestamps": {"1"}, "tailLines": {"3"}}, code: 200,
			want: "2026-11-22T00:00:01.0000005Z fourth\n2026-11-22T00:00:04.0000005Z fifth\nnot a CRI line\n"},
		{name: "no previous", path: "default/web/side", query: url.Values{"previous": {"true"}}, code: 400,
			want: `previous terminated container "side" in pod "web" not found`},
		{name: "log file gone", path: "default/web/side", code: 404, contains: `the log of container "side" in pod "web" is gone`},
		{name: "unknown container", path: "default/web/nope", code: 400, want: "container nope is not valid for pod web"},
		{name: "unknown pod", path: "default/nope/app", code: 404, want: `pod "nope" in namespace "default" does not run on this node`},
		{name: "bad tail", path: "default/web/app", query: url.Values{"tailLines": {"-1"}}, code: 400, contains: "tailLines"},
		{name: "bad bool", path: "default/web/app", query: url.Values{"follow": {"yes please"}}, code: 400, contains: "follow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, f.hc, f.url+"/containerLogs/"+tt.path+"?"+tt.query.Encode())
			if code != tt.code {
				t.Fatalf("code %d, want %d; body %q", code, tt.code, body)
			}
			if code != 200 {
				body = statusMessage(t, body)
			}
			if tt.contains != "" {
				if !strings.Contains(body, tt.contains) {
					t.Fatalf("got %q, want it to contain %q", body, tt.contains)
				}
				return
			}
			if body != tt.want {
				t.Fatalf("got\n%q\nwant\n%q", body, tt.want)
			}
		})
	}
}

func TestLogsWaitingContainer(t *testing.T) {
	f := newFixture(t)
	if _, err := f.rt.CreateContainer(context.Background(), f.sb, runtime.ContainerConfig{Metadata: runtime.ContainerMetadata{Name: "app"}, Image: image}); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, f.hc, f.url+"/containerLogs/default/web/app")
	if code != 400 || statusMessage(t, body) != `container "app" in pod "web" is waiting to start: ContainerCreating` {
		t.Fatalf("%d %q", code, body)
	}
}

func TestLogsFollow(t *testing.T) {
	f := newFixture(t)
	id := f.start(t, "app", 0)
	path := f.logPath("app", 0)
	appendLog(t, path, "stdout F one", "stdout F two", "stdout F three")
	resp, err := f.hc.Get(f.url + "/containerLogs/default/web/app?follow=true&tailLines=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if l := testutil.ReadLine(t, br, 10*time.Second); l != "three\n" {
		t.Fatalf("first line %q", l)
	}
	appendLog(t, path, "stdout F four")
	if l := testutil.ReadLine(t, br, 10*time.Second); l != "four\n" {
		t.Fatalf("followed line %q", l)
	}
	// Rotation: the file moves to .1 and a new one starts.
	appendLog(t, path, "stdout F five")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path, "stdout F six")
	if l := testutil.ReadLine(t, br, 10*time.Second); l != "five\n" {
		t.Fatalf("line before rotation %q", l)
	}
	if l := testutil.ReadLine(t, br, 10*time.Second); l != "six\n" {
		t.Fatalf("line after rotation %q", l)
	}
	// The container exits: what it wrote last is sent, then the stream ends.
	appendLog(t, path, "stdout F last words")
	if err := f.rt.StopContainer(context.Background(), id, 0); err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(br); done <- b }()
	if rest := testutil.Receive(t, done, 10*time.Second, "follow to end after the container exited"); string(rest) != "last words\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestLogsFollowEndsWhenClientLeaves(t *testing.T) {
	f := newFixture(t)
	f.start(t, "app", 0)
	appendLog(t, f.logPath("app", 0), "stdout F one")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/containerLogs/default/web/app?follow=true", nil)
	resp, err := f.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if l := testutil.ReadLine(t, br, 10*time.Second); l != "one\n" {
		t.Fatalf("line %q", l)
	}
	cancel()
	resp.Body.Close()
	// Serve (ended by the cleanup) waits for the handler to return.
}

func exec(t *testing.T, f *fixture, container string, cmd []string, stdin io.Reader) (int, string, string, error, int) {
	t.Helper()
	q := url.Values{"command": cmd}
	if stdin != nil {
		q.Set("stdin", "true")
	}
	resp, err := f.hc.Post(f.url+"/exec/default/web/"+container+"?"+q.Encode(), "application/octet-stream", stdin)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return 0, "", statusMessage(t, string(b)), nil, resp.StatusCode
	}
	var stdout, stderr bytes.Buffer
	code, err := execstream.Copy(resp.Body, &stdout, &stderr)
	return code, stdout.String(), stderr.String(), err, 200
}

func TestExec(t *testing.T) {
	f := newFixture(t)
	f.start(t, "app", 0)
	tests := []struct {
		name           string
		container      string
		cmd            []string
		stdin          io.Reader
		status         int
		code           int
		stdout, stderr string
	}{
		{name: "output", container: "app", cmd: []string{"echo", "hello", "there"}, status: 200, stdout: "hello there\n"},
		{name: "exit code and stderr", container: "app", cmd: []string{"fail", "3"}, status: 200, code: 3, stderr: "failing\n"},
		{name: "not found", container: "app", cmd: []string{"nope"}, status: 200, code: 127, stderr: "nope: not found\n"},
		{name: "stdin", container: "app", cmd: []string{"cat"}, stdin: strings.NewReader("from stdin\n"), status: 200, stdout: "from stdin\n"},
		{name: "no stdin", container: "app", cmd: []string{"cat"}, status: 200, code: 2},
		{name: "container not running", container: "side", cmd: []string{"echo"}, status: 400, stderr: `container "side" in pod "web" is not running`},
		{name: "unknown container", container: "other", cmd: []string{"echo"}, status: 400, stderr: "container other is not valid for pod web"},
		{name: "no command", container: "app", status: 400, stderr: "you must specify at least one command for the container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr, err, status := exec(t, f, tt.container, tt.cmd, tt.stdin)
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status || code != tt.code || stdout != tt.stdout || stderr != tt.stderr {
				t.Fatalf("got status %d code %d stdout %q stderr %q; want %d %d %q %q",
					status, code, stdout, stderr, tt.status, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestExecStreamsStdin checks that output flows while stdin is still open:
// the body is read and answered a line at a time.
func TestExecStreamsStdin(t *testing.T) {
	f := newFixture(t)
	f.start(t, "app", 0)
	pr, pw := io.Pipe()
	resp, err := f.hc.Post(f.url+"/exec/default/web/app?command=cat&stdin=true", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	outR, outW := io.Pipe()
	result := make(chan error, 1)
	var code int
	go func() {
		var err error
		code, err = execstream.Copy(resp.Body, outW, io.Discard)
		outW.Close()
		result <- err
	}()
	br := bufio.NewReader(outR)
	for _, line := range []string{"one\n", "two\n"} {
		if _, err := io.WriteString(pw, line); err != nil {
			t.Fatal(err)
		}
		if got := testutil.ReadLine(t, br, 10*time.Second); got != line {
			t.Fatalf("echoed %q, want %q", got, line)
		}
	}
	pw.Close()
	if err := testutil.Receive(t, result, 10*time.Second, "exec to end after stdin closed"); err != nil || code != 0 {
		t.Fatalf("code %d, %v", code, err)
	}
}

func TestAddresses(t *testing.T) {
	tests := []struct {
		ip   string
		want []string
	}{
		{"", []string{"127.0.0.1:10250"}},
		{"127.0.0.1", []string{"127.0.0.1:10250"}},
		{"10.0.0.5", []string{"127.0.0.1:10250", "10.0.0.5:10250"}},
		{"fd00::5", []string{"127.0.0.1:10250", "[fd00::5]:10250"}},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			got := agentapi.Addresses(tt.ip, agentapi.DefaultPort)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
