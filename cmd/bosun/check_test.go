package main

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
)

// TestCheckCommand runs bosun check on this machine, with ports the
// kernel picks: it prints every check, a summary, and exits with status 1
// exactly when a line is a failure.
func TestCheckCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	root := newRootCommand(&stdout, &stderr)
	root.SetArgs([]string{"check", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
		"--etcd-client-url", "http://127.0.0.1:0", "--etcd-peer-url", "http://127.0.0.1:0", "--agent-port", "0"})
	err := root.Execute()
	out := stdout.String()
	for _, name := range []string{"kernel", "cgroups", "overlayfs", "netfilter", "br_netfilter", "ip_forward",
		"containerd", "runc", "cni-plugins", "port 127.0.0.1:0", "port :0", "root", "disk", "failed\n"} {
		if !strings.Contains(out, name) {
			t.Errorf("no %q in the output:\n%s", name, out)
		}
	}
	failed := strings.Contains(out, "\nfail ") || strings.HasPrefix(out, "fail ")
	var ee exitError
	if failed != (errors.As(err, &ee) && ee.code == 1) {
		t.Fatalf("a check failed: %v, but the command returned %v:\n%s", failed, err, out)
	}
	if !failed && err != nil {
		t.Fatalf("check: %v", err)
	}
	t.Logf("bosun check:\n%s", out)
}

// TestCheckCommandFails checks that a failed check (the API port taken)
// makes bosun check exit with status 1 and say what to fix.
func TestCheckCommandFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var stdout, stderr bytes.Buffer
	root := newRootCommand(&stdout, &stderr)
	root.SetArgs([]string{"check", "--data-dir", t.TempDir(), "--listen", l.Addr().String(),
		"--etcd-client-url", "http://127.0.0.1:0", "--etcd-peer-url", "http://127.0.0.1:0", "--agent-port", "0"})
	err = root.Execute()
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("check with the API port taken returned %v, want exit status 1:\n%s", err, stdout.String())
	}
	want := "fail  port " + l.Addr().String()
	if out := stdout.String(); !strings.Contains(out, want) || !strings.Contains(out, "in use: needed by the API (bosun server --listen); fix: stop what listens there") {
		t.Fatalf("no %q line with its fix in:\n%s", want, out)
	}
}

func TestCheckPorts(t *testing.T) {
	tests := []struct {
		name  string
		c     checkConfig
		want  string
		error string
	}{
		{"server", checkConfig{listen: ":6443", etcdClientURL: "http://127.0.0.1:2379", etcdPeerURL: "https://10.0.0.1:2380", agentPort: 10250},
			":6443 127.0.0.1:2379 10.0.0.1:2380 :10250", ""},
		{"agent", checkConfig{agent: true, agentPort: 10250}, ":10250", ""},
		{"no port", checkConfig{listen: ":6443", etcdClientURL: "http://127.0.0.1", etcdPeerURL: "http://127.0.0.1:2380"}, "", "--etcd-client-url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ports, err := tc.c.ports()
			if tc.error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("ports() error %v, want one naming %s", err, tc.error)
				}
				return
			}
			var addrs []string
			for _, p := range ports {
				addrs = append(addrs, p.Addr)
			}
			if err != nil || strings.Join(addrs, " ") != tc.want {
				t.Fatalf("ports() = %v, %v; want %s", addrs, err, tc.want)
			}
		})
	}
}
