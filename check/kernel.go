package check

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Kernel versions: below minKernel containers do not run as bosun runs
// them (overlayfs multi-lower, cgroup v2 basics); below goodKernel cgroup
// v2 lacks what Kubernetes requires of it (5.8).
var (
	minKernel  = version{4, 15, 0}
	goodKernel = version{5, 8, 0}
)

// kernelRelease is /proc/sys/kernel/osrelease ("6.1.0-13-amd64"), or "".
func kernelRelease(h Host) string {
	r, err := h.read("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return r
}

// Kernel checks the kernel's version.
func Kernel(h Host) Result {
	r := Result{Name: "kernel"}
	release, err := h.read("/proc/sys/kernel/osrelease")
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, fmt.Sprintf("cannot read the kernel release: %v", err), "run bosun check on Linux with /proc mounted"
		return r
	}
	v, ok := parseVersion(release)
	switch {
	case !ok:
		r.Status, r.Detail, r.Fix = Warn, fmt.Sprintf("%s: version not understood", release), "use Linux "+goodKernel.String()+" or later"
	case v.less(minKernel):
		r.Status, r.Detail, r.Fix = Fail, release, "upgrade to Linux "+goodKernel.String()+" or later (at least "+minKernel.String()+")"
	case v.less(goodKernel):
		r.Status, r.Detail, r.Fix = Warn, release+" (cgroup v2 needs "+goodKernel.String()+")", "upgrade to Linux "+goodKernel.String()+" or later"
	default:
		r.Status, r.Detail = OK, release
	}
	return r
}

// neededControllers are the cgroup controllers pods' limits need.
var neededControllers = []string{"cpu", "memory", "pids"}

// Cgroups checks for cgroup v2 with the cpu, memory and pids controllers,
// and accepts v1 (or hybrid) with a warning.
func Cgroups(h Host) Result {
	r := Result{Name: "cgroups"}
	if ctl, err := h.read("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		missing := missingWords(ctl, neededControllers)
		if len(missing) > 0 {
			r.Status, r.Detail = Fail, "v2 without the "+strings.Join(missing, ", ")+" controller(s)"
			r.Fix = "enable them on the kernel command line (e.g. cgroup_enable=memory) and reboot"
			return r
		}
		r.Status, r.Detail = OK, "v2 ("+strings.Join(neededControllers, " ")+")"
		return r
	}
	v1, err := h.read("/proc/cgroups")
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, "no cgroup filesystem found", "mount cgroup2 on /sys/fs/cgroup (systemd does so by default)"
		return r
	}
	missing := missingV1(v1, neededControllers)
	kind := "v1"
	if h.exists("/sys/fs/cgroup/unified/cgroup.controllers") {
		kind = "v1 (hybrid, v2 at /sys/fs/cgroup/unified holds no controllers)"
	}
	if len(missing) > 0 {
		r.Status, r.Detail = Fail, kind+" without the "+strings.Join(missing, ", ")+" controller(s)"
		r.Fix = "enable them on the kernel command line and reboot, or boot with systemd.unified_cgroup_hierarchy=1 for v2"
		return r
	}
	r.Status, r.Detail = Warn, kind+": cpu, memory and pids limits work"
	r.Fix = "prefer cgroup v2: boot with systemd.unified_cgroup_hierarchy=1 (the default of Debian 11 and later)"
	return r
}

// missingWords returns the wanted words that are not in the space-separated list.
func missingWords(list string, wanted []string) []string {
	have := map[string]bool{}
	for _, w := range strings.Fields(list) {
		have[w] = true
	}
	var missing []string
	for _, w := range wanted {
		if !have[w] {
			missing = append(missing, w)
		}
	}
	return missing
}

// missingV1 returns the wanted controllers that /proc/cgroups does not list
// as enabled (its fourth column).
func missingV1(procCgroups string, wanted []string) []string {
	var enabled []string
	for _, line := range strings.Split(procCgroups, "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && !strings.HasPrefix(f[0], "#") && f[3] == "1" {
			enabled = append(enabled, f[0])
		}
	}
	return missingWords(strings.Join(enabled, " "), wanted)
}

// Overlay checks that the overlay filesystem is registered or loadable.
func Overlay(h Host, release string) Result {
	r := Result{Name: "overlayfs"}
	fs, err := h.read("/proc/filesystems")
	if err == nil && hasFilesystem(fs, "overlay") {
		r.Status, r.Detail = OK, "overlay in /proc/filesystems"
		return r
	}
	if moduleAvailable(h, release, "fs/overlayfs/overlay") {
		r.Status, r.Detail = OK, "overlay module loadable (containerd's mount loads it)"
		return r
	}
	r.Status, r.Detail = Fail, "no overlay filesystem in /proc/filesystems nor as a module"
	r.Fix = "use a kernel with CONFIG_OVERLAY_FS (Debian's has it as the overlay module)"
	return r
}

func hasFilesystem(procFilesystems, name string) bool {
	for _, line := range strings.Split(procFilesystems, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

// moduleAvailable reports whether the kernel module at rel (under the
// kernel/ tree, without extension) is built in or on disk.
func moduleAvailable(h Host, release, rel string) bool {
	if release == "" {
		return false
	}
	dir := filepath.Join("/lib/modules", release)
	if builtin, err := h.read(filepath.Join(dir, "modules.builtin")); err == nil &&
		strings.Contains(builtin, "kernel/"+rel+".ko") {
		return true
	}
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if h.exists(filepath.Join(dir, "kernel", rel+ext)) {
			return true
		}
	}
	return false
}

const bridgeNFCall = "/proc/sys/net/bridge/bridge-nf-call-iptables"

// BrNetfilter checks that bridged traffic goes through iptables, which a
// pod reaching a Service whose endpoint is on the same node needs.
func BrNetfilter(h Host, release string) Result {
	r := Result{Name: "br_netfilter"}
	v, err := h.read(bridgeNFCall)
	switch {
	case err == nil && v == "1":
		r.Status, r.Detail = OK, "loaded, bridge-nf-call-iptables = 1"
	case err == nil:
		r.Status, r.Detail = Warn, "loaded, but bridge-nf-call-iptables = "+v
		r.Fix = "sysctl -w net.bridge.bridge-nf-call-iptables=1 and add it to /etc/sysctl.d/90-bosun.conf"
	case moduleAvailable(h, release, "net/bridge/br_netfilter"):
		r.Status, r.Detail = Warn, "module not loaded"
		r.Fix = "modprobe br_netfilter; echo br_netfilter > /etc/modules-load.d/bosun.conf"
	default:
		r.Status, r.Detail = Fail, "no br_netfilter: "+bridgeNFCall+" is missing and no module is on disk"
		r.Fix = "use a kernel with CONFIG_BRIDGE_NETFILTER (pods reaching Services on their own node need it)"
	}
	return r
}

// IPForward checks net.ipv4.ip_forward.
func IPForward(h Host) Result {
	r := Result{Name: "ip_forward"}
	v, err := h.read("/proc/sys/net/ipv4/ip_forward")
	switch {
	case err != nil:
		r.Status, r.Detail, r.Fix = Fail, fmt.Sprintf("cannot read net.ipv4.ip_forward: %v", err), "run bosun check on Linux with /proc mounted"
	case v == "1":
		r.Status, r.Detail = OK, "net.ipv4.ip_forward = 1"
	default:
		r.Status, r.Detail = Warn, "net.ipv4.ip_forward = "+v+" (the CNI bridge plugin turns it on when the first pod starts)"
		r.Fix = "echo net.ipv4.ip_forward=1 > /etc/sysctl.d/90-bosun.conf; sysctl --system"
	}
	return r
}

// version is a major.minor.patch version.
type version [3]int

var versionRE = regexp.MustCompile(`\b[vV]?(\d+)\.(\d+)(?:\.(\d+))?`)

// parseVersion finds the first version in s ("1.6.20~ds1", "v1.1.5").
func parseVersion(s string) (version, bool) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return version{}, false
	}
	var v version
	for i := range 3 {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return v, true
}

func (v version) less(o version) bool {
	for i := range 3 {
		if v[i] != o[i] {
			return v[i] < o[i]
		}
	}
	return false
}

func (v version) String() string {
	if v[2] == 0 {
		return fmt.Sprintf("%d.%d", v[0], v[1])
	}
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
}
