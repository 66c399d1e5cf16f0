package install

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// Leftovers lists, one sentence each, what of bosun remains in this
// network namespace and under the data directory: mounts (pods' network
// namespaces and volumes), processes, bridges, routes, iptables chains and
// the nftables table. A tool that is not installed (iptables-save, nft)
// has nothing to report.
func Leftovers(ctx context.Context, cfg LeftoverConfig) ([]string, error) {
	var out []string
	mounts, err := mountsUnder(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	for _, m := range mounts {
		out = append(out, "mount "+m)
	}
	procs, err := ProcessesUsing("/proc", cfg.DataDir)
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		out = append(out, "process "+p.String())
	}
	for _, b := range cfg.Bridges {
		if err := exec.CommandContext(ctx, "ip", "link", "show", "dev", b).Run(); err == nil {
			out = append(out, "interface "+b)
		}
	}
	routes, err := leftoverRoutes(ctx, cfg)
	if err != nil {
		return nil, err
	}
	out = append(out, routes...)
	if cfg.Chains != "" {
		if b, err := exec.CommandContext(ctx, "iptables-save").Output(); err == nil {
			out = append(out, chains(b, cfg.Chains)...)
		}
	}
	if cfg.NFTable != "" {
		if _, err := exec.LookPath("nft"); err == nil {
			if exec.CommandContext(ctx, "nft", "list", "table", "ip", cfg.NFTable).Run() == nil {
				out = append(out, "nftables table ip "+cfg.NFTable)
			}
		}
	}
	return out, nil
}

// leftoverRoutes lists bosun's routes (its protocol) and the routes to the
// pod and Service ranges that are not blackholes.
func leftoverRoutes(ctx context.Context, cfg LeftoverConfig) ([]string, error) {
	b, err := exec.CommandContext(ctx, "ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return nil, fmt.Errorf("install: ip route: %w", err)
	}
	proto := fmt.Sprintf(" proto %d", cfg.RouteProtocol)
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if cfg.RouteProtocol != 0 && strings.Contains(line+" ", proto+" ") {
			out = append(out, "route "+line)
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] == "blackhole" || fields[0] == "local" || fields[0] == "broadcast" {
			continue
		}
		dst, err := netip.ParsePrefix(fields[0])
		if err != nil {
			if a, aerr := netip.ParseAddr(fields[0]); aerr == nil {
				dst = netip.PrefixFrom(a, a.BitLen())
			} else {
				continue // default, or a type this check does not know
			}
		}
		for _, c := range cfg.CIDRs {
			if c.Overlaps(dst) {
				out = append(out, "route "+line)
				break
			}
		}
	}
	return out, nil
}

// chains lists the chains of iptables-save output whose name starts with
// prefix.
func chains(save []byte, prefix string) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(save))
	table := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, ":"+prefix):
			name, _, _ := strings.Cut(line[1:], " ")
			out = append(out, "iptables chain "+table+"/"+name)
		}
	}
	return out
}
