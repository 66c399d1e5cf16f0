package nettest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// The tests themselves run under Main, which is tested along the way.
func TestMain(m *testing.M) { Main(m) }

func gate(t *testing.T) {
	testenv.E2E(t, testenv.Root(), testenv.Binary("ip"), testenv.Binary("nsenter"))
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func threadNS() string { return fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()) }

func TestMainReexecs(t *testing.T) {
	gate(t)
	root := os.Getenv(EnvRootNS)
	if root == "" {
		t.Fatal("tests did not run under Main's namespace")
	}
	if inode(t, root) == inode(t, "/proc/self/ns/net") {
		t.Fatal("tests run in the machine's own namespace")
	}
}

func TestHostRun(t *testing.T) {
	gate(t)
	h := HostNS(t)
	// Run stays on one thread, so the locked thread's namespace is observable.
	var inside, outside uint64
	veth := "nt" + randHex(t, 4)
	h.Run(t, func() {
		inside = inode(t, threadNS())
		// A process started here (as CNI plugins are) lands in h.
		if out, err := exec.Command("ip", "link", "add", veth, "type", "veth", "peer", "name", veth+"p").CombinedOutput(); err != nil {
			t.Fatalf("ip link add: %v: %s", err, out)
		}
		if _, err := net.InterfaceByName(veth); err != nil {
			t.Errorf("veth not visible inside the host namespace: %v", err)
		}
	})
	if inside != inode(t, h.Path) {
		t.Errorf("inside Run the thread is in namespace %d, want %d", inside, inode(t, h.Path))
	}
	outside = inode(t, "/proc/self/ns/net")
	if inside == outside {
		t.Fatal("host namespace is the process's own")
	}
	if _, err := net.InterfaceByName(veth); err == nil {
		t.Errorf("veth %s leaked into the process's namespace", veth)
	}
	out, err := h.Command(context.Background(), "ip", "-o", "link").CombinedOutput()
	if err != nil || !strings.Contains(string(out), veth) {
		t.Errorf("Command does not see %s in the host namespace: %v: %s", veth, err, out)
	}
	// Do: a fresh thread in the namespace.
	if err := Do(h.Path, func() error {
		if got := inode(t, threadNS()); got != inside {
			return fmt.Errorf("Do runs in namespace %d, want %d", got, inside)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

func TestCIDR(t *testing.T) {
	gate(t)
	var cidr string
	showRoot := func() string {
		var out []byte
		if err := inRoot(func() (err error) {
			out, err = exec.Command("ip", "-4", "route", "show", "type", "blackhole").CombinedOutput()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	t.Run("reserve", func(t *testing.T) {
		cidr = CIDR(t, 24)
		other := CIDR(t, 20)
		_, a, _ := net.ParseCIDR(cidr)
		_, b, _ := net.ParseCIDR(other)
		if a.Contains(b.IP) || b.Contains(a.IP) {
			t.Errorf("overlapping reservations %s and %s", cidr, other)
		}
		if !strings.Contains(showRoot(), "blackhole "+cidr) {
			t.Errorf("no blackhole route for %s in the machine's namespace", cidr)
		}
	})
	if strings.Contains(showRoot(), "blackhole "+cidr) {
		t.Errorf("blackhole route for %s left after the test", cidr)
	}
}

func TestOverlapsAny(t *testing.T) {
	routes := "default via 192.0.2.1 dev eth0\n10.200.0.0/16 dev x\nblackhole 10.130.4.0/24\n"
	tests := []struct {
		cidr string
		want bool
	}{
		{"10.200.3.0/24", true}, {"10.130.0.0/16", true}, {"10.130.5.0/24", false}, {"10.131.0.0/16", false},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			_, n, _ := net.ParseCIDR(tt.cidr)
			if got := overlapsAny(n, routes); got != tt.want {
				t.Errorf("overlapsAny(%s) = %v, want %v", tt.cidr, got, tt.want)
			}
		})
	}
}
