package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/install"
	"github.com/bosun-dev/bosun/internal/sdnotify"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// BenchmarkInstallServerToAPI times "bosun install server --no-start" into
// a temporary root and then the installed binary started as the unit
// starts it (with the config file's flags, $NOTIFY_SOCKET set), until it
// sends READY=1, which it does when its HTTPS API answers: what "systemctl
// enable --now" waits for. The server runs without an agent (the node's
// start is issue 4's benchmark). Reported: install-ms (the install
// command), ready-ms (start to READY=1) and total-ms, medians.
func BenchmarkInstallServerToAPI(b *testing.B) {
	r := newRepo(b)
	var installs, readies, totals []float64
	for b.Loop() {
		i, rd := installAndStart(b, r.dir)
		installs, readies, totals = append(installs, ms(i)), append(readies, ms(rd)), append(totals, ms(i+rd))
	}
	b.ReportMetric(median(installs), "install-ms")
	b.ReportMetric(median(readies), "ready-ms")
	b.ReportMetric(median(totals), "total-ms")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// installAndStart installs into a new root and starts the installed server
// as its unit would, returning how long each part took.
func installAndStart(b *testing.B, repo string) (installed, ready time.Duration) {
	b.Helper()
	root, err := os.MkdirTemp("", "bosun-ib-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(root)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(b))
	start := time.Now()
	out, err := exec.Command(bosunBin, "install", "server", "--root", root, "--no-start",
		"--repo", repo, "--no-webhook", "--no-agent", "--listen", listen,
		"--etcd-client-url", fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(b)),
		"--etcd-peer-url", fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(b))).CombinedOutput()
	if err != nil {
		b.Fatalf("bosun install server: %v\n%s", err, out)
	}
	installed = time.Since(start)

	sock := filepath.Join(root, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	args, err := unitArgs(root)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start = time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(root, install.BinaryPath), args...)
	cmd.Env = append(os.Environ(), sdnotify.EnvSocket+"="+sock)
	log := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != sdnotify.Ready {
		b.Fatalf("READY=1 not received (%q, %v); server log:\n%s", buf[:n], err, log.String())
	}
	return installed, time.Since(start)
}

// unitArgs is the unit's command line with the config file's flags spelt
// out (until "bosun server --config" reads the file itself) and the data
// directory under root.
func unitArgs(root string) ([]string, error) {
	flags, err := install.ReadConfig(filepath.Join(root, install.ConfigPath))
	if err != nil {
		return nil, err
	}
	args := []string{"server", "--data-dir", filepath.Join(root, install.DataDir)}
	for k, v := range flags {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				args = append(args, fmt.Sprintf("--%s=%v", k, e))
			}
		default:
			args = append(args, fmt.Sprintf("--%s=%v", k, v))
		}
	}
	return args, nil
}
