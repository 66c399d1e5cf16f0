package containerdproc

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/proctest"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
)

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "ok", cfg: Config{Dir: "/var/lib/bosun/containerd"}},
		{name: "no dir", cfg: Config{}, wantErr: "Dir is required"},
		{name: "socket too long", cfg: Config{Dir: "/" + strings.Repeat("d", 100)}, wantErr: "longer than the 107"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Binary != "containerd" || got.MinRestartDelay != time.Second || got.MaxRestartDelay != 30*time.Second ||
				got.StartTimeout != 30*time.Second || got.Logger == nil {
				t.Fatalf("defaults not filled in: %+v", got)
			}
		})
	}
}

func TestRenderConfig(t *testing.T) {
	got := renderConfig("/data/ctrd")
	for _, want := range []string{
		"version = 2\n",
		`root = "/data/ctrd/root"`,
		`state = "/data/ctrd/state"`,
		`address = "/data/ctrd/containerd.sock"`,
		`address = "/data/ctrd/containerd.sock.ttrpc"`,
		`"io.containerd.grpc.v1.cri"`,
		`path = "/data/ctrd/opt"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "/run/containerd") || strings.Contains(got, "/var/lib/containerd") {
		t.Errorf("config names the system containerd's paths:\n%s", got)
	}
}

func TestLineLevel(t *testing.T) {
	tests := []struct {
		line string
		want slog.Level
	}{
		{`time="2026-01-01T00:00:00Z" level=info msg="starting containerd"`, slog.LevelDebug},
		{`time="2026-01-01T00:00:00Z" level=warning msg="x"`, slog.LevelDebug},
		{`time="2026-01-01T00:00:00Z" level=error msg="failed to load plugin"`, slog.LevelError},
		{`time="2026-01-01T00:00:00Z" level=fatal msg="bad config"`, slog.LevelError},
		{`panic: something`, slog.LevelDebug},
	}
	for _, tt := range tests {
		if got := lineLevel(tt.line); got != tt.want {
			t.Errorf("lineLevel(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestStartFailsWhenTheChildExits(t *testing.T) {
	dir := t.TempDir()
	_, err := Start(context.Background(), Config{Binary: "false", Dir: dir, StartTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "did not start") {
		t.Fatalf("Start with a binary that exits = %v, want a 'did not start' error", err)
	}
	if _, err := Start(context.Background(), Config{Binary: "no-such-containerd", Dir: dir}); err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("Start with a missing binary = %v, want an error saying to run make deps", err)
	}
}

// shortDir returns a temporary directory short enough for a socket path.
func shortDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "bosun-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// processesUsing returns the live processes whose command line names the
// socket or config under dir.
func processesUsing(dir string) []int {
	var live []int
	for _, pid := range proctest.Find(func(args []string) bool { return strings.Contains(strings.Join(args, "\x00"), dir) }) {
		if proctest.Alive(pid) {
			live = append(live, pid)
		}
	}
	return live
}

func TestSupervisorRestartsAndStops(t *testing.T) {
	testenv.E2E(t, testenv.Root(), testenv.Binary("containerd"))
	dir := shortDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sup, err := Start(ctx, Config{Dir: dir, Logger: logger, MinRestartDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Wait()
	defer cancel()

	c, err := Connect(ctx, sup.Address())
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Version(ctx)
	c.Close()
	if err != nil || v.Version == "" {
		t.Fatalf("Version = %+v, %v", v, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.toml")); err != nil {
		t.Fatal(err)
	}
	// A second supervisor on the same directory refuses.
	if _, err := Start(ctx, Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "already listens") {
		t.Fatalf("second Start on the same dir = %v, want 'already listens'", err)
	}

	first := sup.PID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for ; ; <-tick.C {
		if pid := sup.PID(); pid != 0 && pid != first {
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			c, err := Connect(cctx, sup.Address())
			ccancel()
			if err == nil {
				c.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd not restarted and answering 20s after SIGKILL (pid %d, starts %d)", sup.PID(), sup.Starts())
		}
	}
	if sup.Starts() != 2 {
		t.Fatalf("starts = %d, want 2", sup.Starts())
	}
	second := sup.PID()

	cancel()
	waited := make(chan struct{})
	go func() { sup.Wait(); close(waited) }()
	testutil.Receive(t, waited, 20*time.Second, "Wait to return after the context ended")
	if proctest.Alive(first) || proctest.Alive(second) {
		t.Fatalf("containerd still runs after stop (pids %d, %d)", first, second)
	}
	if pids := processesUsing(dir); len(pids) > 0 {
		t.Fatalf("processes still use %s: %v", dir, pids)
	}
	if sup.PID() != 0 {
		t.Fatalf("PID() = %d after stop, want 0", sup.PID())
	}
}

// testLog sends log output to t.Log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
