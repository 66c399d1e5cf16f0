package check

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// Minimum versions: the ones bosun is tested with (Debian 12's).
var (
	minContainerd = version{1, 6, 0}
	minRunc       = version{1, 1, 0}
)

// Netfilter checks that the service proxy can program the kernel: the
// iptables and iptables-restore programs (and which backend they use), or
// the nft program of the nftables mode.
func Netfilter(ctx context.Context, h Host) Result {
	r := Result{Name: "netfilter"}
	_, nftErr := h.LookPath("nft")
	nft := "; nft not found: the proxy uses iptables"
	if nftErr == nil {
		nft = "; nft found: the proxy can use nftables"
	}
	path, err := h.LookPath("iptables")
	if err != nil {
		if nftErr == nil {
			r.Status, r.Detail, r.Fix = Warn, "iptables not found"+nft, "apt-get install iptables (for --proxy-mode iptables)"
			return r
		}
		r.Status, r.Detail, r.Fix = Fail, "neither iptables nor nft found", "apt-get install iptables nftables"
		return r
	}
	if _, err := h.LookPath("iptables-restore"); err != nil {
		r.Status, r.Detail, r.Fix = Fail, "iptables found but iptables-restore not", "apt-get install --reinstall iptables"
		return r
	}
	out, err := h.Output(ctx, path, "--version")
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, fmt.Sprintf("iptables does not run: %v", err), "reinstall iptables (apt-get install --reinstall iptables)"
		return r
	}
	out = strings.TrimSpace(out)
	switch {
	case strings.Contains(out, "nf_tables"), strings.Contains(out, "legacy"):
		r.Status, r.Detail = OK, out+nft // the backend is in parentheses
	default:
		r.Status, r.Detail = Warn, out+": backend not reported"+nft
		r.Fix = "use iptables 1.8 or later (update-alternatives --set iptables /usr/sbin/iptables-nft)"
	}
	return r
}

// Containerd checks that containerd is installed and recent enough.
func Containerd(ctx context.Context, h Host) Result {
	return programVersion(ctx, h, "containerd", minContainerd, "apt-get install containerd")
}

// Runc checks that runc is installed and recent enough.
func Runc(ctx context.Context, h Host) Result {
	return programVersion(ctx, h, "runc", minRunc, "apt-get install runc")
}

// programVersion runs "name --version" and compares its version with min.
func programVersion(ctx context.Context, h Host, name string, min version, install string) Result {
	r := Result{Name: name}
	path, err := h.LookPath(name)
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, name+" not found in $PATH", install
		return r
	}
	out, err := h.Output(ctx, path, "--version")
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, fmt.Sprintf("%s does not run: %v", path, err), install
		return r
	}
	v, ok := parseVersion(out)
	switch {
	case !ok:
		r.Status, r.Detail = Warn, fmt.Sprintf("%s: version not understood in %q", path, firstLine(out))
		r.Fix = fmt.Sprintf("use %s %s or later", name, min)
	case v.less(min):
		r.Status, r.Detail = Fail, fmt.Sprintf("%s %s is older than %s", name, v, min)
		r.Fix = fmt.Sprintf("upgrade %s to %s or later (%s)", name, min, install)
	default:
		r.Status, r.Detail = OK, fmt.Sprintf("%s %s (%s)", name, v, path)
	}
	return r
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// CNIDirs are where the CNI plugins are looked for, as the agent does.
var CNIDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// cniPlugins are the plugins the agent's network configuration uses.
var cniPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// CNIPlugins checks that one of CNIDirs holds every plugin bosun uses.
func CNIPlugins(h Host) Result {
	r := Result{Name: "cni-plugins"}
	best, bestMissing := "", cniPlugins
	for _, dir := range CNIDirs {
		var missing []string
		for _, p := range cniPlugins {
			if !h.exists(filepath.Join(dir, p)) {
				missing = append(missing, p)
			}
		}
		if len(missing) < len(bestMissing) {
			best, bestMissing = dir, missing
		}
	}
	switch {
	case len(bestMissing) == 0:
		r.Status, r.Detail = OK, strings.Join(cniPlugins, ", ")+" in "+best
	case best != "":
		r.Status, r.Detail = Fail, best+" lacks "+strings.Join(bestMissing, ", ")
		r.Fix = "apt-get install containernetworking-plugins"
	default:
		r.Status, r.Detail = Fail, "no CNI plugins in "+strings.Join(CNIDirs, " or ")
		r.Fix = "apt-get install containernetworking-plugins"
	}
	return r
}
