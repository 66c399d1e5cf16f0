package check

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// Ports checks that each address can be listened on.
func Ports(h Host, ports []Port) []Result {
	results := make([]Result, 0, len(ports))
	for _, p := range ports {
		r := Result{Name: "port " + p.Addr}
		err := h.Listen(p.Addr)
		switch {
		case err == nil:
			r.Status, r.Detail = OK, "free for "+p.Use
		case errors.Is(err, syscall.EADDRINUSE):
			r.Status, r.Detail = Fail, "in use: needed by "+p.Use
			r.Fix = "stop what listens there (ss -ltnp 'sport = " + portOf(p.Addr) + "'), or change the flag"
		default:
			r.Status, r.Detail = Warn, fmt.Sprintf("cannot listen (%v): needed by %s", err, p.Use)
			r.Fix = "run bosun check as root, or check the address"
		}
		results = append(results, r)
	}
	return results
}

func portOf(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		return port
	}
	return addr
}

// Root checks that bosun check runs as root, as bosun server and agent must.
func Root(h Host) Result {
	r := Result{Name: "root"}
	if uid := h.Euid(); uid != 0 {
		r.Status, r.Detail = Fail, fmt.Sprintf("running as uid %d", uid)
		r.Fix = "run bosun server and agent as root (sudo; the systemd units do); run sudo bosun check to check as they will run"
		return r
	}
	r.Status, r.Detail = OK, "running as root"
	return r
}

// Disk checks the free space of the data directory's filesystem (of its
// nearest existing parent before it is created): below min it fails,
// below five times min it warns.
func Disk(h Host, dataDir string, min uint64) Result {
	r := Result{Name: "disk"}
	if dataDir == "" {
		dataDir = "/var/lib/bosun"
	}
	dir := nearestExisting(h, dataDir)
	free, err := h.FreeBytes(h.path(dir))
	if err != nil {
		r.Status, r.Detail, r.Fix = Warn, fmt.Sprintf("free space of %s unknown: %v", dir, err), "check it with df "+dir
		return r
	}
	detail := fmt.Sprintf("%s free in %s", gib(free), dir)
	switch {
	case free < min:
		r.Status, r.Detail = Fail, detail
		r.Fix = fmt.Sprintf("free at least %s there (images, logs and etcd live in %s), or choose another --data-dir", gib(5*min), dataDir)
	case free < 5*min:
		r.Status, r.Detail = Warn, detail
		r.Fix = fmt.Sprintf("free at least %s there, or choose another --data-dir", gib(5*min))
	default:
		r.Status, r.Detail = OK, detail
	}
	return r
}

// nearestExisting is dir or its nearest parent that exists under the root.
func nearestExisting(h Host, dir string) string {
	dir = filepath.Clean(dir)
	for {
		if _, err := os.Stat(h.path(dir)); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}

func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
