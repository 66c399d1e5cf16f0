package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/install"
	"github.com/bosun-dev/bosun/internal/sdnotify"
)

// runBosun runs the command line args in this process.
// TestInstallCommand installs into a temporary root: the flags given
// after "server" or "agent" become the config file, typed as their flags
// are, and install's own and the client's flags stay out of it.
func TestInstallCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string // the config file after its comment lines
		wantErr string
	}{
		{
			name: "server",
			args: []string{"install", "server", "--repo", "/srv/repo", "--tls-san", "a.example.com,10.0.0.1", "--no-webhook", "--interval", "1m", "--etcd-quota-backend-bytes", "1000", "--log-format", "json", "--server", "https://ignored:6443", "--kubeconfig", "/dev/null", "--no-start"},
			want: "etcd-quota-backend-bytes: 1000\ninterval: 1m0s\nlog-format: json\nno-webhook: true\nrepo: /srv/repo\ntls-san:\n- a.example.com\n- 10.0.0.1\n",
		},
		{
			name: "agent",
			args: []string{"install", "agent", "--server", "https://10.0.0.1:6443", "--token", "abcdef.0123456789abcdef", "--node-name", "n1", "--event-qps", "2.5"},
			want: "event-qps: 2.5\nnode-name: n1\nserver: https://10.0.0.1:6443\ntoken: abcdef.0123456789abcdef\n",
		},
		{
			name: "agent joining through the environment",
			args: []string{"install", "agent"},
			env:  map[string]string{"BOSUN_SERVER": "https://10.0.0.1:6443", "BOSUN_TOKEN": "abcdef.0123456789abcdef"},
			want: "server: https://10.0.0.1:6443\ntoken: abcdef.0123456789abcdef\n",
		},
		{
			name:    "agent without a token",
			args:    []string{"install", "agent", "--server", "https://10.0.0.1:6443"},
			env:     map[string]string{"BOSUN_TOKEN": ""},
			wantErr: "--token missing",
		},
		{
			name:    "unknown flag",
			args:    []string{"install", "server", "--no-such-flag"},
			wantErr: "unknown flag: --no-such-flag",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("BOSUN_SERVER", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			root := t.TempDir()
			out, err := runBosun(t, append(tt.args, "--root", root)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q; output:\n%s", err, tt.wantErr, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "not started") {
				t.Errorf("a --root install started systemctl units:\n%s", out)
			}
			b, err := os.ReadFile(filepath.Join(root, install.ConfigPath))
			if err != nil {
				t.Fatal(err)
			}
			var body []string
			for _, l := range strings.SplitAfter(string(b), "\n") {
				if !strings.HasPrefix(l, "#") {
					body = append(body, l)
				}
			}
			if got := strings.Join(body, ""); got != tt.want {
				t.Errorf("config file:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestNotifyWhenReady polls a readiness check and sends READY=1 once it
// passes, and nothing before.
func TestNotifyWhenReady(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	calls := 0
	ready := func(context.Context) error {
		calls++
		if calls < 3 {
			return context.DeadlineExceeded
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	notifyWhenReady(ctx, sdnotify.Notifier{Socket: sock}, "test", ready, slog.New(slog.DiscardHandler))
	if calls != 3 {
		t.Errorf("checked %d times, want 3 (until ready, then stop)", calls)
	}
	buf := make([]byte, 64)
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != sdnotify.Ready {
		t.Errorf("received %q, %v; want %q", buf[:n], err, sdnotify.Ready)
	}
	if n, err := conn.Read(buf); err == nil {
		t.Errorf("a second notification %q", buf[:n])
	}
}
