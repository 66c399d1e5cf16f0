package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// testNetns is a network namespace a test created and removes on cleanup.
type testNetns struct {
	name string
	path string
}

// run runs a command and fails the test when it fails.
func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetns creates a network namespace with lo up; it is deleted (with every
// interface in it) on cleanup, even when the test fails.
func newNetns(t testing.TB, role string) *testNetns {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	n := &testNetns{name: "bpx-" + role + "-" + hex.EncodeToString(b)}
	n.path = "/run/netns/" + n.name
	run(t, "ip", "netns", "add", n.name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("delete netns %s: %v: %s", n.name, err, out)
		}
	})
	run(t, "ip", "-n", n.name, "link", "set", "lo", "up")
	return n
}

// in runs a command inside the namespace (nsenter enters only the network
// namespace, unlike ip netns exec which remounts /sys).
func (n *testNetns) in(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, append([]string{"nsenter", "--net=" + n.path}, args...)...)
}

// blackhole installs a blackhole route for cidr in the root namespace, so
// that a broken rule can never send test traffic out of the machine; it is
// removed on cleanup when this test added it.
func blackhole(t testing.TB, cidr string) {
	t.Helper()
	out, err := exec.Command("ip", "route", "add", "blackhole", cidr).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "File exists") {
			return // someone else's safety net; leave it
		}
		t.Fatalf("blackhole route %s: %v: %s", cidr, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "route", "del", "blackhole", cidr).CombinedOutput(); err != nil {
			t.Errorf("delete blackhole route %s: %v: %s", cidr, err, out)
		}
	})
}

func ifName(prefix string, i int) string { return fmt.Sprintf("%s%d", prefix, i) }
