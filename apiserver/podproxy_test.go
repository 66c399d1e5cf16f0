package apiserver_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/agentapi/execstream"
)

// fakeAgent answers logs with the path and query it got, then (follow)
// one line per write to lines; exec with its command line, stdin echoed
// and exit code 7; the logs of containers named "a" are refused.
func fakeAgent(t *testing.T, lines <-chan string) (port int32) {
	t.Helper()
	mux := http.NewServeMux()
	refuse := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"agent says no","reason":"NotFound","code":404}`)
	}
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{c}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("c") == "a" {
			refuse(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, r.URL.Path+"?"+r.URL.RawQuery+"\n")
		if r.URL.Query().Get("follow") != "true" {
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return
				}
				_, _ = io.WriteString(w, l+"\n")
				_ = rc.Flush()
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("POST /exec/{ns}/{pod}/{c}", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		w.Header().Set("Content-Type", execstream.ContentType)
		sw := execstream.NewWriter(w, func() { _ = rc.Flush() })
		_, _ = io.WriteString(sw.Stderr(), r.URL.Path+"?"+r.URL.RawQuery+"\n")
		if r.URL.Query().Get("stdin") == "true" {
			_, _ = io.Copy(sw.Stdout(), r.Body)
		}
		_ = sw.Exit(7)
	})
	mux.HandleFunc("/", refuse)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	_, p, _ := net.SplitHostPort(ts.Listener.Addr().String())
	n, _ := strconv.Atoi(p)
	return int32(n)
}

func podOn(name, node string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: corev1.PodSpec{NodeName: node}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img"})
	}
	return p
}

func nodeAt(name, ip string, port int32) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	return n
}

func freePort(t *testing.T) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return int32(port)
}

func TestPodLogAndExecProxy(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	lines := make(chan string)
	port := fakeAgent(t, lines)
	e.create(nodeAt("n1", "127.0.0.1", port))
	e.create(nodeAt("n-noport", "127.0.0.1", 0))
	e.create(nodeAt("n-noaddr", "", port))
	e.create(nodeAt("n-down", "127.0.0.1", freePort(t)))
	e.create(podOn("one", "n1", "app"))
	e.create(podOn("two", "n1", "a", "b"))
	two := podOn("inits", "n1", "a", "b")
	two.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "img"}}
	e.create(two)
	e.create(podOn("pending", "", "app"))
	e.create(podOn("lost", "n-gone", "app"))
	e.create(podOn("noport", "n-noport", "app"))
	e.create(podOn("noaddr", "n-noaddr", "app"))
	e.create(podOn("down", "n-down", "app"))

	tests := []struct {
		name   string
		method string
		path   string
		body   string
		code   int
		want   string // body, or the Status message
	}{
		{name: "log of the only container", method: "GET", path: "/api/v1/namespaces/default/pods/one/log?tailLines=3&timestamps=true&previous=true",
			code: 200, want: "/containerLogs/default/one/app?previous=true&tailLines=3&timestamps=true\n"},
		{name: "log of a named container", method: "GET", path: "/api/v1/namespaces/default/pods/two/log?container=b",
			code: 200, want: "/containerLogs/default/two/b?\n"},
		{name: "several containers", method: "GET", path: "/api/v1/namespaces/default/pods/two/log",
			code: 400, want: "a container name must be specified for pod two, choose one of: [a b]"},
		{name: "several containers and init containers", method: "POST", path: "/api/v1/namespaces/default/pods/inits/exec?command=ls",
			code: 400, want: "a container name must be specified for pod inits, choose one of: [a b] or one of the init containers: [setup]"},
		{name: "unknown container", method: "GET", path: "/api/v1/namespaces/default/pods/one/log?container=x",
			code: 400, want: "container x is not valid for pod one"},
		{name: "unknown pod", method: "GET", path: "/api/v1/namespaces/default/pods/nope/log",
			code: 404, want: `pods "nope" not found in namespace "default"`},
		{name: "not scheduled", method: "GET", path: "/api/v1/namespaces/default/pods/pending/log",
			code: 400, want: "pod pending is not scheduled to a node yet: it has no logs and runs no containers; `bosun describe pod pending -n default` tells why"},
		{name: "node not registered", method: "GET", path: "/api/v1/namespaces/default/pods/lost/log",
			code: 503, want: "node n-gone of pod lost is not registered: its agent has not joined, or the node was deleted"},
		{name: "node without agent API", method: "GET", path: "/api/v1/namespaces/default/pods/noport/log",
			code: 503, want: "node n-noport publishes no agent API (status.daemonEndpoints.kubeletEndpoint.port): its agent serves no logs or exec"},
		{name: "node without address", method: "GET", path: "/api/v1/namespaces/default/pods/noaddr/log",
			code: 503, want: "node n-noaddr reports no address to reach its agent at"},
		{name: "agent down", method: "GET", path: "/api/v1/namespaces/default/pods/down/log", code: 503, want: "cannot reach the agent of node n-down"},
		{name: "bad tail", method: "GET", path: "/api/v1/namespaces/default/pods/one/log?tailLines=x", code: 400, want: `tailLines="x": want a number of lines, 0 or more`},
		{name: "exec without command", method: "POST", path: "/api/v1/namespaces/default/pods/one/exec", code: 400,
			want: "you must specify at least one command for the container"},
		{name: "exec with tty", method: "POST", path: "/api/v1/namespaces/default/pods/one/exec?command=sh&tty=true", code: 400,
			want: "bosun exec does not support a terminal (tty)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := e.do(tt.method, tt.path, nil)
			got := string(b)
			if code != tt.code {
				t.Fatalf("code %d, want %d: %s", code, tt.code, b)
			}
			if code != 200 {
				got = decodeStatus(t, b).Message
			}
			if tt.name == "agent down" {
				if !strings.HasPrefix(got, tt.want) {
					t.Fatalf("got %q, want it to start with %q", got, tt.want)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}

	t.Run("agent errors pass through", func(t *testing.T) {
		code, b := e.do("GET", "/api/v1/namespaces/default/pods/two/log?container=a", nil)
		if code != 404 || decodeStatus(t, b).Message != "agent says no" {
			t.Fatalf("code %d: %s", code, b)
		}
	})

	t.Run("exec with stdin", func(t *testing.T) {
		code, b := e.do("POST", "/api/v1/namespaces/default/pods/two/exec?container=a&command=cat&command=-n&stdin=true", "some input")
		if code != 200 {
			t.Fatalf("code %d: %s", code, b)
		}
		var stdout, stderr bytes.Buffer
		exit, err := execstream.Copy(bytes.NewReader(b), &stdout, &stderr)
		if err != nil || exit != 7 || stdout.String() != "some input" ||
			stderr.String() != "/exec/default/two/a?command=cat&command=-n&stdin=true\n" {
			t.Fatalf("exit %d err %v stdout %q stderr %q", exit, err, stdout.String(), stderr.String())
		}
	})

	t.Run("follow streams", func(t *testing.T) {
		resp, err := http.Get(e.url + "/api/v1/namespaces/default/pods/one/log?follow=true")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		read := func() string {
			t.Helper()
			return testutil.ReadLine(t, br, 10*time.Second)
		}
		if l := read(); l != "/containerLogs/default/one/app?follow=true\n" {
			t.Fatalf("first line %q", l)
		}
		for _, want := range []string{"a", "b"} {
			lines <- want // the agent writes it only now: it must arrive unbuffered
			if l := read(); l != want+"\n" {
				t.Fatalf("line %q, want %q", l, want)
			}
		}
		close(lines)
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Fatalf("rest %q, %v", rest, err)
		}
	})
}
