package nettest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// EnvRootNS names the environment variable through which Main tells the
// re-executed test binary where the machine's own network namespace is.
const EnvRootNS = "BOSUN_NETTEST_ROOTNS"

// Host is a network namespace acting as a node's host namespace in a test.
type Host struct {
	// Name is the namespace's name under /run/netns (ip netns list).
	Name string
	// Path is /run/netns/Name, usable with nsenter --net= and setns.
	Path string
}

// HostNS creates a fresh network namespace with lo up, named
// bosun-test-<random>, and deletes it when t ends. The namespace is empty:
// no route leaves it, so nothing a test does inside can reach the machine's
// network. It needs root and ip(8); gate the test with testenv first.
func HostNS(t testing.TB) *Host {
	t.Helper()
	name := "bosun-test-" + randHex(t, 4)
	h := &Host{Name: name, Path: "/run/netns/" + name}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("nettest: ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("nettest: ip netns delete %s: %v: %s", name, err, out)
		}
	})
	if out, err := h.Command(context.Background(), "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("nettest: lo up in %s: %v: %s", name, err, out)
	}
	return h
}

// Command returns a command that runs inside h's network namespace only
// (nsenter --net; unlike ip netns exec it keeps /sys and the cgroups).
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + h.Path, "--", name}, args...)...)
}

// Run calls fn on the calling goroutine with its OS thread switched into
// h's namespace, then switches back. Sockets fn opens and processes it
// starts (os/exec forks on the calling thread, so CNI plugins and iptables
// too) live in h; goroutines fn starts do NOT (they run on other threads),
// and neither do subtests. fn may call t.Fatal. If switching back fails the
// thread stays locked and is discarded when the goroutine ends.
func (h *Host) Run(t testing.TB, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("nettest: opening current netns: %v", err)
	}
	target, err := os.Open(h.Path)
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("nettest: opening %s: %v", h.Path, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("nettest: entering %s: %v", h.Path, err)
	}
	defer func() {
		defer orig.Close()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("nettest: leaving %s: %v (thread discarded)", h.Path, err)
			return // stay locked: the runtime kills the thread with the goroutine
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// Do runs fn on a new, locked OS thread inside the network namespace at
// path (a /run/netns file, a pod's namespace file, /proc/PID/ns/net) and
// returns its error. The thread is discarded afterwards. Typical use: open
// a listener inside a pod's namespace; the listener keeps working from any
// goroutine afterwards.
func Do(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open(path)
		if err != nil {
			errc <- fmt.Errorf("nettest: %w", err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("nettest: entering %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// inRoot runs fn on a fresh thread in the machine's own namespace: the
// process's original one, or, under Main, the parent's.
func inRoot(fn func() error) error {
	if p := os.Getenv(EnvRootNS); p != "" {
		return Do(p, fn)
	}
	errc := make(chan error, 1)
	go func() {
		// A thread from the pool is in the process's own namespace: threads
		// moved elsewhere are either moved back or discarded (Run, Do).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		errc <- fn()
	}()
	return <-errc
}

// CIDR reserves a random IPv4 subnet of prefix length ones (16 to 28)
// inside 10.128.0.0/9 for the test: it adds a blackhole route for it in the
// machine's own (root) network namespace, the safety net that keeps any
// stray pod or service packet on the machine, and removes it when t ends.
// The route also keeps concurrent tests from picking overlapping subnets.
func CIDR(t testing.TB, ones int) string {
	t.Helper()
	if ones < 16 || ones > 28 {
		t.Fatalf("nettest: CIDR prefix length %d: must be 16 to 28", ones)
	}
	for attempt := 0; attempt < 20; attempt++ {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatalf("nettest: %v", err)
		}
		v := binary.BigEndian.Uint32(b[:])&^uint32(0xff800000) | 0x0a800000 // 10.128.0.0/9
		v &= ^uint32(0) << (32 - ones)
		binary.BigEndian.PutUint32(b[:], v)
		cidr := fmt.Sprintf("%s/%d", net.IP(b[:]), ones)
		_, candidate, _ := net.ParseCIDR(cidr)
		var taken bool
		err := inRoot(func() error {
			out, err := exec.Command("ip", "-4", "-o", "route", "show", "table", "all").Output()
			if err != nil {
				return fmt.Errorf("nettest: ip route show: %w", err)
			}
			if overlapsAny(candidate, string(out)) {
				taken = true
				return nil
			}
			out, err = exec.Command("ip", "route", "add", "blackhole", cidr).CombinedOutput()
			if err != nil {
				if strings.Contains(string(out), "File exists") {
					taken = true
					return nil
				}
				return fmt.Errorf("nettest: ip route add blackhole %s: %w: %s", cidr, err, out)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if taken {
			continue
		}
		t.Cleanup(func() {
			err := inRoot(func() error {
				out, err := exec.Command("ip", "route", "del", "blackhole", cidr).CombinedOutput()
				if err != nil {
					return fmt.Errorf("nettest: ip route del blackhole %s: %w: %s", cidr, err, out)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
		return cidr
	}
	t.Fatalf("nettest: no free /%d in 10.128.0.0/9 after 20 tries", ones)
	return ""
}

// overlapsAny reports whether n overlaps any destination in ip route output.
func overlapsAny(n *net.IPNet, routes string) bool {
	for _, line := range strings.Split(routes, "\n") {
		for _, f := range strings.Fields(line) {
			if !strings.Contains(f, "/") {
				continue
			}
			_, r, err := net.ParseCIDR(f)
			if err != nil || r.IP.To4() == nil {
				continue
			}
			if ro, _ := r.Mask.Size(); ro == 0 {
				continue // default route
			}
			if r.Contains(n.IP) || n.Contains(r.IP) {
				return true
			}
		}
	}
	return false
}

// Main runs the test binary's tests inside a fresh network namespace acting
// as the host, so that everything the tests do — from any goroutine — lands
// there: call it from TestMain. It re-executes the binary under
// nsenter --net (keeping /sys and the cgroups, unlike ip netns exec),
// waits, deletes the namespace and exits with the tests' status. When not
// root or nsenter/ip are missing, it runs the tests in place (the tests'
// testenv gates then skip or fail them). Inside, CIDR still installs its
// blackhole routes in the machine's own namespace.
func Main(m *testing.M) {
	if os.Getenv(EnvRootNS) != "" || os.Geteuid() != 0 || !have("nsenter") || !have("ip") {
		os.Exit(m.Run())
	}
	os.Exit(reexec())
}

func have(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

func reexec() int {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("bosun-test-%x", b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "nettest: ip netns add %s: %v: %s\n", name, err, out)
		return 2
	}
	defer func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "nettest: ip netns delete %s: %v: %s\n", name, err, out)
		}
	}()
	path := "/run/netns/" + name
	if out, err := exec.Command("nsenter", "--net="+path, "--", "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "nettest: lo up in %s: %v: %s\n", name, err, out)
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "nettest: %v\n", err)
		return 2
	}
	cmd := exec.Command("nsenter", append([]string{"--net=" + path, "--", self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=/proc/%d/ns/net", EnvRootNS, os.Getpid()))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nettest: running the tests in %s: %v\n", name, err)
		return 2
	}
	return 0
}

func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("nettest: %v", err)
	}
	return fmt.Sprintf("%x", b)
}
