package client_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/agentapi"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

type onePod struct{ pod *corev1.Pod }

func (p onePod) LookupPod(ns, name string) (*corev1.Pod, bool) {
	if ns == p.pod.Namespace && name == p.pod.Name {
		return p.pod, true
	}
	return nil, false
}

type dirLogs string

func (d dirLogs) LogPath(uid, name string, attempt uint32) string {
	return filepath.Join(string(d), uid, name, strconv.Itoa(int(attempt))+".log")
}

// TestLogsAndExec runs the whole path: client -> API server -> agent API
// (on the fake runtime) on 127.0.0.1, found through the Node's status.
func TestLogsAndExec(t *testing.T) {
	c, st := setup(t)
	rt := runtimetest.New(runtimetest.Config{PodCIDR: "10.42.0.0/24", Images: map[string]runtimetest.Behavior{"img": {Exec: func(_ string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) int {
		if cmd[0] == "cat" {
			_, _ = io.Copy(stdout, stdin)
			return 0
		}
		fmt.Fprintln(stderr, "no", cmd[0])
		return 42
	}}}})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "uid-1"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "img"}}}}
	bg := context.Background()
	sb, err := rt.RunPodSandbox(bg, runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{Name: "web", Namespace: "default", UID: "uid-1"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = rt.PullImage(bg, "img")
	id, err := rt.CreateContainer(bg, sb.ID, runtime.ContainerConfig{Metadata: runtime.ContainerMetadata{Name: "app"}, Image: "img"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(bg, id); err != nil {
		t.Fatal(err)
	}
	logs := dirLogs(t.TempDir())
	path := logs.LogPath("uid-1", "app", 0)
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	writeLines := func(lines ...string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, l := range lines {
			fmt.Fprintf(f, "2026-11-22T00:00:00.000000000Z stdout F %s\n", l)
		}
	}
	writeLines("one", "two", "three")
	srv, err := agentapi.New(agentapi.Config{Pods: onePod{pod}, Runtime: rt, Logs: logs, PollInterval: 5 * time.Millisecond, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	agent := httptest.NewServer(srv.Handler())
	t.Cleanup(agent.Close)
	port := agent.Listener.Addr().(*net.TCPAddr).Port
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	if err := st.Create(ctx(t), node); err != nil {
		t.Fatal(err)
	}
	if err := st.Create(ctx(t), pod.DeepCopy()); err != nil {
		t.Fatal(err)
	}

	t.Run("logs", func(t *testing.T) {
		tests := []struct {
			name string
			opts client.LogOptions
			want string
		}{
			{"all", client.LogOptions{}, "one\ntwo\nthree\n"},
			{"tail", client.LogOptions{TailLines: 2, Container: "app"}, "two\nthree\n"},
			{"timestamps", client.LogOptions{TailLines: 1, Timestamps: true}, "2026-11-22T00:00:00Z three\n"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rc, err := c.Logs(ctx(t), "default", "web", tt.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				b, err := io.ReadAll(rc)
				if err != nil || string(b) != tt.want {
					t.Fatalf("got %q (%v), want %q", b, err, tt.want)
				}
			})
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := c.Logs(ctx(t), "default", "web", client.LogOptions{Previous: true})
		if err == nil || err.Error() != `previous terminated container "app" in pod "web" not found` || client.Reason(err) != metav1.StatusReasonBadRequest {
			t.Fatalf("previous: %v", err)
		}
		_, err = c.Logs(ctx(t), "default", "nope", client.LogOptions{})
		if !client.IsNotFound(err) {
			t.Fatalf("unknown pod: %v", err)
		}
		_, err = c.Exec(ctx(t), "default", "web", "", nil, nil, io.Discard, io.Discard)
		if err == nil {
			t.Fatal("exec without a command: no error")
		}
	})

	t.Run("exec", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code, err := c.Exec(ctx(t), "default", "web", "", []string{"cat"}, strings.NewReader("piped\n"), &stdout, &stderr)
		if err != nil || code != 0 || stdout.String() != "piped\n" || stderr.Len() != 0 {
			t.Fatalf("cat: %d %v %q %q", code, err, stdout.String(), stderr.String())
		}
		stdout.Reset()
		code, err = c.Exec(ctx(t), "default", "web", "app", []string{"frob", "x"}, nil, &stdout, &stderr)
		if err != nil || code != 42 || stderr.String() != "no frob\n" {
			t.Fatalf("frob: %d %v %q %q", code, err, stdout.String(), stderr.String())
		}
	})

	// Last: follow until the container exits.
	t.Run("follow", func(t *testing.T) {
		rc, err := c.Logs(ctx(t), "default", "web", client.LogOptions{Follow: true, TailLines: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		br := bufio.NewReader(rc)
		next := func() string {
			t.Helper()
			return testutil.ReadLine(t, br, 10*time.Second)
		}
		if l := next(); l != "three\n" {
			t.Fatalf("got %q", l)
		}
		writeLines("four")
		if l := next(); l != "four\n" {
			t.Fatalf("got %q", l)
		}
		writeLines("five")
		if err := rt.StopContainer(bg, id, 0); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(br)
		if err != nil || string(rest) != "five\n" {
			t.Fatalf("rest %q, %v", rest, err)
		}
	})
}
