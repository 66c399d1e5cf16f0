package install_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/install"
)

func TestProcessesUsing(t *testing.T) {
	procs := map[string][]string{
		"100": {"/usr/bin/containerd", "--config", "/var/lib/bosun/containerd/config.toml"},
		"101": {"/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-address", "/var/lib/bosun/containerd/containerd.sock"},
		"102": {"/usr/local/bin/bosun", "agent", "--data-dir=/var/lib/bosun"},
		"103": {"/usr/bin/containerd", "--config", "/var/lib/bosunx/config.toml"}, // another directory
		"104": {"sleep", "1000"},
		"105": {}, // a kernel thread: empty cmdline
	}
	dir := t.TempDir()
	for pid, args := range procs {
		if err := os.MkdirAll(filepath.Join(dir, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		cmdline := ""
		for _, a := range args {
			cmdline += a + "\x00"
		}
		if err := os.WriteFile(filepath.Join(dir, pid, "cmdline"), []byte(cmdline), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := install.ProcessesUsing(dir, "/var/lib/bosun/")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range got {
		pids = append(pids, p.PID)
		if !strings.Contains(p.String(), "/var/lib/bosun") {
			t.Errorf("%q does not show the command line", p.String())
		}
	}
	slices.Sort(pids)
	if want := []int{100, 101, 102}; !slices.Equal(pids, want) {
		t.Errorf("processes %v, want %v", pids, want)
	}
}
