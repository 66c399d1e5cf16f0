package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/bosun-dev/bosun/examples/app/appimage"
	"github.com/bosun-dev/bosun/install"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc/containerdproctest"
)

// TestUninstallLeavesNothing runs a real node (server and agent, in a
// network namespace the test made) with three pods from a data directory
// under a temporary root where "bosun install server --no-start" wrote its
// files, kills it as a crash would (containers and shims keep running),
// then runs "bosun uninstall --root ROOT --purge" in that namespace and
// checks that nothing is left: no pod process and no pod network
// namespace, no interface but lo, no route, no iptables chain or nftables
// table of bosun's, no mount under the root, no process using it, and
// none of the installed files.
func TestUninstallLeavesNothing(t *testing.T) {
	testenv.E2E(t, testenv.Root())
	// Short: containerd's socket path is limited to 107 bytes.
	root, err := os.MkdirTemp("", "bosun-un-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	dataDir := filepath.Join(root, "var/lib/bosun")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The example images, imported by the agent at start.
	if _, err := appimage.Build(ctx, filepath.Join(dataDir, "agent/images")); err != nil {
		t.Fatalf("build the example images: %v", err)
	}
	r := newRepo(t)
	h := newNodeHost(t, r.dir, "--data-dir", dataDir) // the last --data-dir wins
	// Runs before the node host's cleanup, while its namespace exists:
	// after a failure, the pods of this data directory are removed there.
	t.Cleanup(func() { h.kill(); removeNodeRoot(t, h, dataDir) })
	out, err := exec.CommandContext(ctx, bosunBin, "install", "server", "--root", root, "--no-start",
		"--repo", r.dir, "--data-dir", "/var/lib/bosun", "--cluster-cidr", h.clusterCIDR, "--service-cidr", h.serviceCIDR).CombinedOutput()
	if err != nil {
		t.Fatalf("bosun install server --no-start: %v\n%s", err, out)
	}
	h.readyPods("demo", "app=hello", 3)
	podNS := namespaceInodes(t, filepath.Join(dataDir, "agent/network/netns"))
	if len(podNS) != 3 {
		t.Fatalf("%d pod network namespaces pinned under the data directory, want 3", len(podNS))
	}
	h.kill()

	out, err = h.host.Command(ctx, bosunBin, "uninstall", "--root", root, "--purge").CombinedOutput()
	if err != nil {
		t.Fatalf("bosun uninstall --purge: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "nothing of bosun is left") {
		t.Errorf("uninstall did not report a clean machine:\n%s", out)
	}
	for _, p := range []string{install.BinaryPath, install.ConfigDir, "/etc/systemd/system/bosun-server.service", "/var/lib/bosun"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
	checkNothingLeft(t, h, root, podNS)
}

// checkNothingLeft checks the host namespace and the machine for what a
// node makes, independently of the uninstall's own check.
func checkNothingLeft(t *testing.T, h *nodeHost, root string, podNS map[string]bool) {
	t.Helper()
	ctx := context.Background()
	run := func(name string, args ...string) string {
		out, err := h.host.Command(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s in the host namespace: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, l := range strings.Split(strings.TrimSpace(run("ip", "-o", "link", "show")), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] != "lo:" {
			t.Errorf("interface left: %s", l)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(run("ip", "-4", "route", "show", "table", "all")), "\n") {
		if l != "" && !strings.Contains(l, " dev lo ") {
			t.Errorf("route left: %s", l)
		}
	}
	if out := run("iptables-save"); strings.Contains(out, "BOSUN") {
		t.Errorf("iptables rules left:\n%s", out)
	}
	if _, err := exec.LookPath("nft"); err == nil {
		if out := run("nft", "list", "tables"); strings.Contains(out, "bosun") {
			t.Errorf("nftables tables left:\n%s", out)
		}
	}
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(root))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		t.Errorf("mount left: %s", m.Mountpoint)
	}
	procs, err := install.ProcessesUsing("/proc", root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		t.Errorf("process left: %s", p)
	}
	// The pods' processes ran in their network namespaces; a namespace
	// outlives its last mount only while a process is in it.
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/net"))
		if err == nil && podNS[link] {
			b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			t.Errorf("process %s (%s) is still in a pod's network namespace %s", e.Name(), strings.ReplaceAll(string(b), "\x00", " "), link)
		}
	}
}

// namespaceInodes names the network namespaces pinned by the files in dir
// as /proc/PID/ns/net links read: "net:[INODE]".
func namespaceInodes(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, e.Name()), &st); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("net:[%d]", st.Ino)] = true
	}
	return out
}

// removeNodeRoot removes what a node left in dataDir after a failed test:
// pods through the runtime (in the node's namespace), then what containerd
// leaves outside its directory.
func removeNodeRoot(t *testing.T, h *nodeHost, dataDir string) {
	if _, err := os.Stat(dataDir); err != nil {
		return // the uninstall removed it
	}
	if out, err := h.host.Command(context.Background(), bosunBin, "agent", "--cleanup", "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Errorf("bosun agent --cleanup: %v\n%s", err, out)
	}
	containerdproctest.CleanupDir(t, filepath.Join(dataDir, "containerd"))
}
