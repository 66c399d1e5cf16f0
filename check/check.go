package check

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status is the outcome of one check.
type Status int

const (
	// OK means the machine is ready for what the check looks at.
	OK Status = iota
	// Warn means bosun runs, but something is degraded or should be set
	// up before production.
	Warn
	// Fail means bosun will not run properly until it is fixed.
	Fail
)

// String returns "ok", "warn" or "fail".
func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Warn:
		return "warn"
	default:
		return "fail"
	}
}

// Result is the outcome of one check.
type Result struct {
	// Name names the check, e.g. "cgroups".
	Name string
	// Status is ok, warn or fail.
	Status Status
	// Detail is what the check found, e.g. "v2 (cpu memory pids)".
	Detail string
	// Fix says what to do when Status is not OK.
	Fix string
}

// Options are the settings of the bosun that will run on the machine.
type Options struct {
	// DataDir is bosun's data directory; its free space is checked.
	DataDir string
	// Ports are the TCP addresses that must be free, each with the flag
	// that changes it; nil means DefaultPorts.
	Ports []Port
	// MinFreeBytes is the free space below which the disk check fails;
	// 0 means DefaultMinFreeBytes. Below 5 times it, it warns.
	MinFreeBytes uint64
}

// Port is a TCP address bosun listens on.
type Port struct {
	// Addr is host:port, e.g. ":6443".
	Addr string
	// Use says who listens there and the flag to change it.
	Use string
}

// DefaultMinFreeBytes is the disk check's default failure threshold: 1 GiB.
const DefaultMinFreeBytes = 1 << 30

// DefaultPorts are the addresses bosun server and agent listen on by
// default: the API, the embedded etcd's client and peer ports and the
// agent's API.
func DefaultPorts() []Port {
	return []Port{
		{Addr: ":6443", Use: "the API (bosun server --listen)"},
		{Addr: "127.0.0.1:2379", Use: "etcd clients (bosun server --etcd-client-url)"},
		{Addr: "127.0.0.1:2380", Use: "etcd peers (bosun server --etcd-peer-url)"},
		{Addr: ":10250", Use: "the agent's API (--agent-port)"},
	}
}

// Run runs every check on h, in a fixed order, and returns one Result each.
func Run(ctx context.Context, h Host, opts Options) []Result {
	if opts.Ports == nil {
		opts.Ports = DefaultPorts()
	}
	if opts.MinFreeBytes == 0 {
		opts.MinFreeBytes = DefaultMinFreeBytes
	}
	release := kernelRelease(h)
	results := []Result{
		Kernel(h),
		Cgroups(h),
		Overlay(h, release),
		Netfilter(ctx, h),
		BrNetfilter(h, release),
		IPForward(h),
		Containerd(ctx, h),
		Runc(ctx, h),
		CNIPlugins(h),
	}
	results = append(results, Ports(h, opts.Ports)...)
	return append(results, Root(h), Disk(h, opts.DataDir, opts.MinFreeBytes))
}

// Failed reports whether any result is a Fail.
func Failed(results []Result) bool {
	for _, r := range results {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Print writes one line per result, "STATUS  NAME  DETAIL", with
// "fix: ..." after the detail of warnings and failures, then a summary.
func Print(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	counts := map[Status]int{}
	for _, r := range results {
		counts[r.Status]++
		line := r.Detail
		if r.Status != OK && r.Fix != "" {
			line += "; fix: " + r.Fix
		}
		if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Status, r.Name, oneLine(line)); err != nil {
			return fmt.Errorf("check: print: %w", err)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("check: print: %w", err)
	}
	_, err := fmt.Fprintf(w, "%d ok, %d warnings, %d failed\n", counts[OK], counts[Warn], counts[Fail])
	if err != nil {
		return fmt.Errorf("check: print: %w", err)
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
