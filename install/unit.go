package install

import (
	"fmt"
	"strings"
)

// Role is what the service runs: a server (control plane and a node) or an
// agent (a node joined to a server).
type Role string

// The roles, which are also bosun's subcommands.
const (
	Server Role = "server"
	Agent  Role = "agent"
)

// ParseRole returns the Role named s.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case Server, Agent:
		return Role(s), nil
	}
	return "", fmt.Errorf("install: role %q: want server or agent", s)
}

// UnitName is the systemd unit of the role: bosun-server.service or
// bosun-agent.service.
func (r Role) UnitName() string { return "bosun-" + string(r) + ".service" }

// Paths on the machine (under Config.Root).
const (
	BinaryPath = "/usr/local/bin/bosun"
	ConfigDir  = "/etc/bosun"
	ConfigPath = ConfigDir + "/config.yaml"
	UnitDir    = "/etc/systemd/system"
	// DataDir is the data directory unless the flags name another.
	DataDir = "/var/lib/bosun"
)

// Unit returns the unit file of the role.
//
// It follows k3s's unit (k3s-io/k3s install.sh) line for line where the
// two agree: Type=notify, KillMode=process (containers and their shims
// outlive a restart or an upgrade of the binary; the node agent adopts
// them), Delegate=yes, the same limits, TimeoutStartSec=0, Restart=always
// after 5 s, the modprobes allowed to fail, and network-online.target.
// Where it differs, and why:
//   - NotifyAccess=main: only bosun itself (not containerd or a shim it
//     starts) may report readiness; k3s leaves systemd's default, which is
//     the same, unstated.
//   - No EnvironmentFile lines: bosun's configuration is
//     /etc/bosun/config.yaml (BOSUN_* variables still override it when set
//     with a drop-in).
//   - No ExecStartPre refusing to start while nm-cloud-setup.service is
//     enabled (it rewrites routing rules under the pod network on some
//     clouds): a machine's problems are "bosun check"'s to report, with
//     what to fix, rather than a start that fails every 5 s.
//   - No User=root: root is systemd's default for system units.
//   - The config file is named on ExecStart (--config), so "systemctl
//     cat" shows where the configuration lives.
func Unit(r Role) string {
	desc := "bosun server: GitOps control plane and node agent"
	if r == Agent {
		desc = "bosun agent: node of a bosun cluster"
	}
	lines := []string{
		"# Written by \"bosun install " + string(r) + "\"; \"bosun uninstall\" removes it.",
		"[Unit]",
		"Description=" + desc,
		"Documentation=https://github.com/bosun-dev/bosun",
		"Wants=network-online.target",
		"After=network-online.target",
		"",
		"[Install]",
		"WantedBy=multi-user.target",
		"",
		"[Service]",
		"Type=notify",
		"NotifyAccess=main",
		"KillMode=process",
		"Delegate=yes",
		"LimitNOFILE=1048576",
		"LimitNPROC=infinity",
		"LimitCORE=infinity",
		"TasksMax=infinity",
		"TimeoutStartSec=0",
		"Restart=always",
		"RestartSec=5s",
		"ExecStartPre=-/sbin/modprobe br_netfilter",
		"ExecStartPre=-/sbin/modprobe overlay",
		"ExecStart=" + BinaryPath + " " + string(r) + " --config " + ConfigPath,
	}
	return strings.Join(lines, "\n") + "\n"
}
