package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fake is a machine for the checks: files under a temporary root,
// programs with their --version output, busy ports, a user and free space.
type fake struct {
	files    map[string]string // path -> content
	programs map[string]string // name -> --version output
	broken   map[string]bool   // programs that exist but fail
	busy     map[string]error  // addr -> Listen's error
	euid     int
	free     uint64
}

// good is a machine where every check passes.
func good() fake {
	return fake{
		files: map[string]string{
			"/proc/sys/kernel/osrelease":                   "6.1.0-13-amd64",
			"/sys/fs/cgroup/cgroup.controllers":            "cpuset cpu io memory hugetlb pids rdma misc",
			"/proc/filesystems":                            "nodev\tsysfs\nnodev\toverlay\n\text4",
			"/proc/sys/net/bridge/bridge-nf-call-iptables": "1",
			"/proc/sys/net/ipv4/ip_forward":                "1",
			"/usr/lib/cni/bridge":                          "",
			"/usr/lib/cni/host-local":                      "",
			"/usr/lib/cni/loopback":                        "",
			"/usr/lib/cni/portmap":                         "",
			"/var/lib/.keep":                               "",
		},
		programs: map[string]string{
			"iptables":         "iptables v1.8.9 (nf_tables)\n",
			"iptables-restore": "iptables-restore v1.8.9 (nf_tables)\n",
			"nft":              "nftables v1.0.6 (Lester Gooch #5)\n",
			"containerd":       "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n",
			"runc":             "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n",
		},
		free: 20 << 30,
	}
}

// host writes the fake's files under a temporary root and returns its Host.
func (f fake) host(t *testing.T) Host {
	t.Helper()
	root := t.TempDir()
	for p, content := range f.files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Host{
		Root: root,
		LookPath: func(name string) (string, error) {
			if _, ok := f.programs[name]; !ok {
				return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
			}
			return "/usr/bin/" + name, nil
		},
		Output: func(_ context.Context, name string, args ...string) (string, error) {
			base := filepath.Base(name)
			if f.broken[base] {
				return "", fmt.Errorf("%s: exit status 1", name)
			}
			return f.programs[base], nil
		},
		Listen: func(addr string) error { return f.busy[addr] },
		Euid:   func() int { return f.euid },
		FreeBytes: func(path string) (uint64, error) {
			if _, err := os.Stat(path); err != nil {
				return 0, err
			}
			return f.free, nil
		},
	}
}

func TestChecks(t *testing.T) {
	inUse := fmt.Errorf("listen tcp :6443: %w", syscall.EADDRINUSE)
	tests := []struct {
		name   string
		change func(f *fake)
		check  string // the Result's Name
		want   Status
		detail string // a part of Detail
		fix    string // a part of Fix
	}{
		{"kernel ok", nil, "kernel", OK, "6.1.0-13-amd64", ""},
		{"kernel old for cgroup v2", func(f *fake) { f.files["/proc/sys/kernel/osrelease"] = "5.4.0-150-generic" }, "kernel", Warn, "cgroup v2 needs 5.8", "upgrade to Linux 5.8"},
		{"kernel too old", func(f *fake) { f.files["/proc/sys/kernel/osrelease"] = "3.10.0-1160.el7.x86_64" }, "kernel", Fail, "3.10.0", "at least 4.15"},
		{"kernel unreadable", func(f *fake) { delete(f.files, "/proc/sys/kernel/osrelease") }, "kernel", Fail, "cannot read", "/proc"},

		{"cgroup v2", nil, "cgroups", OK, "v2", ""},
		{"cgroup v2 without memory", func(f *fake) { f.files["/sys/fs/cgroup/cgroup.controllers"] = "cpu io pids" }, "cgroups", Fail, "without the memory", "cgroup_enable=memory"},
		{"cgroup v1 hybrid", func(f *fake) {
			delete(f.files, "/sys/fs/cgroup/cgroup.controllers")
			f.files["/sys/fs/cgroup/unified/cgroup.controllers"] = ""
			f.files["/proc/cgroups"] = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t1\t1\nmemory\t3\t1\t1\npids\t4\t1\t1\n"
		}, "cgroups", Warn, "hybrid", "systemd.unified_cgroup_hierarchy=1"},
		{"cgroup v1 without pids", func(f *fake) {
			delete(f.files, "/sys/fs/cgroup/cgroup.controllers")
			f.files["/proc/cgroups"] = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t1\t1\nmemory\t3\t1\t1\npids\t4\t1\t0\n"
		}, "cgroups", Fail, "v1 without the pids", "kernel command line"},
		{"no cgroups", func(f *fake) { delete(f.files, "/sys/fs/cgroup/cgroup.controllers") }, "cgroups", Fail, "no cgroup", "mount cgroup2"},

		{"overlay registered", nil, "overlayfs", OK, "/proc/filesystems", ""},
		{"overlay module", func(f *fake) {
			f.files["/proc/filesystems"] = "nodev\tsysfs\n\text4"
			f.files["/lib/modules/6.1.0-13-amd64/kernel/fs/overlayfs/overlay.ko.xz"] = ""
		}, "overlayfs", OK, "module loadable", ""},
		{"no overlay", func(f *fake) { f.files["/proc/filesystems"] = "nodev\tsysfs\n\text4" }, "overlayfs", Fail, "no overlay", "CONFIG_OVERLAY_FS"},

		{"iptables nf_tables", nil, "netfilter", OK, "(nf_tables); nft found", ""},
		{"iptables legacy", func(f *fake) {
			f.programs["iptables"] = "iptables v1.8.7 (legacy)"
			delete(f.programs, "nft")
		}, "netfilter", OK, "(legacy); nft not found", ""},
		{"iptables without restore", func(f *fake) { delete(f.programs, "iptables-restore") }, "netfilter", Fail, "iptables-restore not", "reinstall"},
		{"only nft", func(f *fake) { delete(f.programs, "iptables"); delete(f.programs, "iptables-restore") }, "netfilter", Warn, "iptables not found", "apt-get install iptables"},
		{"no netfilter tools", func(f *fake) {
			delete(f.programs, "iptables")
			delete(f.programs, "nft")
		}, "netfilter", Fail, "neither", "apt-get install iptables nftables"},
		{"iptables broken", func(f *fake) { f.broken = map[string]bool{"iptables": true} }, "netfilter", Fail, "does not run", "reinstall"},

		{"br_netfilter on", nil, "br_netfilter", OK, "= 1", ""},
		{"br_netfilter off", func(f *fake) { f.files["/proc/sys/net/bridge/bridge-nf-call-iptables"] = "0" }, "br_netfilter", Warn, "= 0", "sysctl -w net.bridge.bridge-nf-call-iptables=1"},
		{"br_netfilter loadable", func(f *fake) {
			delete(f.files, "/proc/sys/net/bridge/bridge-nf-call-iptables")
			f.files["/lib/modules/6.1.0-13-amd64/kernel/net/bridge/br_netfilter.ko"] = ""
		}, "br_netfilter", Warn, "not loaded", "modprobe br_netfilter"},
		{"br_netfilter built in", func(f *fake) {
			delete(f.files, "/proc/sys/net/bridge/bridge-nf-call-iptables")
			f.files["/lib/modules/6.1.0-13-amd64/modules.builtin"] = "kernel/net/bridge/bridge.ko\nkernel/net/bridge/br_netfilter.ko\n"
		}, "br_netfilter", Warn, "not loaded", "modprobe br_netfilter"},
		{"no br_netfilter", func(f *fake) { delete(f.files, "/proc/sys/net/bridge/bridge-nf-call-iptables") }, "br_netfilter", Fail, "no br_netfilter", "CONFIG_BRIDGE_NETFILTER"},

		{"ip_forward on", nil, "ip_forward", OK, "= 1", ""},
		{"ip_forward off", func(f *fake) { f.files["/proc/sys/net/ipv4/ip_forward"] = "0" }, "ip_forward", Warn, "= 0", "net.ipv4.ip_forward=1"},
		{"ip_forward unreadable", func(f *fake) { delete(f.files, "/proc/sys/net/ipv4/ip_forward") }, "ip_forward", Fail, "cannot read", "/proc"},

		{"containerd 1.6", nil, "containerd", OK, "containerd 1.6.20", ""},
		{"containerd 2", func(f *fake) {
			f.programs["containerd"] = "containerd github.com/containerd/containerd/v2 v2.0.4 1a43cb6a1035441f9aca8f5666a9b3ef9e70ab20"
		}, "containerd", OK, "containerd 2.0.4", ""},
		{"containerd old", func(f *fake) {
			f.programs["containerd"] = "containerd github.com/containerd/containerd 1.4.13~ds1 1.4.13~ds1-1~deb11u4"
		}, "containerd", Fail, "1.4.13 is older than 1.6", "upgrade containerd"},
		{"containerd missing", func(f *fake) { delete(f.programs, "containerd") }, "containerd", Fail, "not found", "apt-get install containerd"},
		{"containerd version garbled", func(f *fake) { f.programs["containerd"] = "containerd dev" }, "containerd", Warn, "not understood", "1.6 or later"},
		{"runc 1.1", nil, "runc", OK, "runc 1.1.5", ""},
		{"runc old", func(f *fake) { f.programs["runc"] = "runc version 1.0.0-rc93\nspec: 1.0.2-dev" }, "runc", Fail, "1.0 is older than 1.1", "upgrade runc"},
		{"runc missing", func(f *fake) { delete(f.programs, "runc") }, "runc", Fail, "not found", "apt-get install runc"},

		{"cni plugins", nil, "cni-plugins", OK, "in /usr/lib/cni", ""},
		{"cni in /opt", func(f *fake) {
			for _, p := range cniPlugins {
				delete(f.files, "/usr/lib/cni/"+p)
				f.files["/opt/cni/bin/"+p] = ""
			}
		}, "cni-plugins", OK, "in /opt/cni/bin", ""},
		{"cni plugin missing", func(f *fake) { delete(f.files, "/usr/lib/cni/portmap") }, "cni-plugins", Fail, "/usr/lib/cni lacks portmap", "containernetworking-plugins"},
		{"no cni", func(f *fake) {
			for _, p := range cniPlugins {
				delete(f.files, "/usr/lib/cni/"+p)
			}
		}, "cni-plugins", Fail, "no CNI plugins", "containernetworking-plugins"},

		{"port free", nil, "port :6443", OK, "free for the API", ""},
		{"port in use", func(f *fake) { f.busy = map[string]error{":6443": inUse} }, "port :6443", Fail, "in use", "sport = 6443"},
		{"port not allowed", func(f *fake) {
			f.busy = map[string]error{":10250": errors.New("listen tcp :10250: bind: permission denied")}
		}, "port :10250", Warn, "permission denied", "as root"},

		{"root", nil, "root", OK, "root", ""},
		{"not root", func(f *fake) { f.euid = 1000 }, "root", Fail, "uid 1000", "sudo"},

		{"disk plenty", nil, "disk", OK, "20.0 GiB free in /var/lib", ""},
		{"disk low", func(f *fake) { f.free = 3 << 30 }, "disk", Warn, "3.0 GiB free", "5.0 GiB"},
		{"disk full", func(f *fake) { f.free = 100 << 20 }, "disk", Fail, "0.1 GiB free", "another --data-dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := good()
			if tc.change != nil {
				tc.change(&f)
			}
			results := Run(context.Background(), f.host(t), Options{DataDir: "/var/lib/bosun"})
			r, ok := find(results, tc.check)
			if !ok {
				t.Fatalf("no result %q in %+v", tc.check, results)
			}
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) || !strings.Contains(r.Fix, tc.fix) {
				t.Fatalf("%s = %s %q (fix %q), want %s with %q (fix %q)", tc.check, r.Status, r.Detail, r.Fix, tc.want, tc.detail, tc.fix)
			}
			if r.Status != OK && r.Fix == "" {
				t.Fatalf("%s is %s without a fix: %q", tc.check, r.Status, r.Detail)
			}
			if Failed(results) != (tc.want == Fail) {
				t.Fatalf("Failed = %v with %s %s; results %+v", Failed(results), tc.check, tc.want, results)
			}
		})
	}
}

func find(results []Result, name string) (Result, bool) {
	for _, r := range results {
		if r.Name == name {
			return r, true
		}
	}
	return Result{}, false
}

func TestPrint(t *testing.T) {
	var b bytes.Buffer
	err := Print(&b, []Result{
		{Name: "kernel", Status: OK, Detail: "6.1.0"},
		{Name: "ip_forward", Status: Warn, Detail: "net.ipv4.ip_forward = 0", Fix: "sysctl -w net.ipv4.ip_forward=1"},
		{Name: "runc", Status: Fail, Detail: "runc not found\nin $PATH", Fix: "apt-get install runc"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "ok    kernel      6.1.0\n" +
		"warn  ip_forward  net.ipv4.ip_forward = 0; fix: sysctl -w net.ipv4.ip_forward=1\n" +
		"fail  runc        runc not found in $PATH; fix: apt-get install runc\n" +
		"1 ok, 1 warnings, 1 failed\n"
	if b.String() != want {
		t.Fatalf("Print wrote\n%s\nwant\n%s", b.String(), want)
	}
}

// TestRealHost runs every check on this machine, root or not: none may
// crash, and every check gives one result with a status and a detail.
func TestRealHost(t *testing.T) {
	// A port the kernel picks: the real listen, without taking bosun's ports.
	ports := []Port{{Addr: "127.0.0.1:0", Use: "a test"}}
	results := Run(context.Background(), RealHost(), Options{DataDir: t.TempDir(), Ports: ports})
	want := 9 + len(ports) + 2 // the nine machine checks, the ports, root, disk
	if len(results) != want {
		t.Fatalf("%d results, want %d: %+v", len(results), want, results)
	}
	var b bytes.Buffer
	if err := Print(&b, results); err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Detail == "" || !strings.Contains(b.String(), r.Name) {
			t.Errorf("result %+v has no detail or is not printed", r)
		}
	}
	t.Logf("bosun check on this machine:\n%s", b.String())
}
