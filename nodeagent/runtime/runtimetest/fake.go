package runtimetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent/network"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// Environment variables of a container config that steer the fake, so a test
// can make one container crash without configuring the runtime.
const (
	// EnvExitAfter is a Go duration ("2s"): the container exits that long after starting.
	EnvExitAfter = "BOSUN_FAKE_EXIT_AFTER"
	// EnvExitCode is the exit code of a container that exits by itself (default 0).
	EnvExitCode = "BOSUN_FAKE_EXIT_CODE"
	// EnvIgnoreTerm "true" makes StopContainer wait its whole timeout, then kill (137).
	EnvIgnoreTerm = "BOSUN_FAKE_IGNORE_SIGTERM"
)

// Version is the runtime version the fake reports, under the name "fake".
const Version = "0.1.0"

// Behavior is how the containers of one image behave.
type Behavior struct {
	// Exits makes containers exit by themselves ExitAfter after starting,
	// with ExitCode.
	Exits     bool
	ExitAfter time.Duration
	ExitCode  int32
	// IgnoreTerm makes StopContainer wait its whole timeout, then kill.
	IgnoreTerm bool
	// PullError, when not "", makes PullImage fail with it.
	PullError string
	// Exec answers Fake.Exec in the image's running containers: it gets the
	// container id and command and returns the exit code. Nil runs the
	// commands "true" (exit 0) and "false" (exit 1), and answers 127
	// ("executable file not found") to any other.
	Exec func(containerID string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) int
	// Usage is the resource use of the image's running containers; zero
	// means DefaultUsage. Fake.SetUsage changes it per container.
	Usage Usage
}

// Usage is how much a fake container uses while it runs: its CPU time
// grows at NanoCores per second of the Fake's clock, so two samples a
// second apart differ by NanoCores nanoseconds.
type Usage struct {
	// NanoCores is the CPU rate in billionths of a core (250_000_000 is
	// a quarter core, "250m").
	NanoCores uint64
	// MemoryBytes is the working set (and the usage: a fake has no page
	// cache).
	MemoryBytes uint64
}

// DefaultUsage is the usage of a running container whose image's Behavior
// sets none: a thousandth of a core and 4 MiB, so that hollow nodes report
// something.
var DefaultUsage = Usage{NanoCores: 1_000_000, MemoryBytes: 4 << 20}

// Config configures a Fake. The zero value is usable.
type Config struct {
	// Clock drives start delays, exits and timestamps; default the real clock.
	Clock clock.Clock
	// StartDelay is how long StartContainer takes, plus a random part of up to
	// StartJitter (seeded with Seed): the hollow node's "Running after a delay".
	StartDelay, StartJitter time.Duration
	// Seed seeds the start jitter.
	Seed uint64
	// PodCIDR is the node's pod CIDR when it is known up front (as
	// network.Config.PodCIDR for the real network). A sandbox config's
	// PodCIDR (the CIDR the agent read from its Node) takes precedence.
	// There is no fallback range: with neither, RunPodSandbox fails with an
	// error wrapping network.ErrNoPodCIDR, as the real (Lazy) network does
	// before the control plane assigned the node its CIDR.
	PodCIDR string
	// Images sets the behaviour of containers by image name; the container
	// config's environment (EnvExitAfter, ...) overrides it. Images not listed
	// run until stopped and pull fine.
	Images map[string]Behavior
}

// Fake is an in-memory runtime.Runtime: no processes, no network. Containers
// "run" until stopped or until their Behavior makes them exit; exits are
// computed from the clock when the state is read, so a fake clock decides
// when they happen. It is safe for concurrent use.
type Fake struct {
	cfg   Config
	clk   clock.Clock
	nonce string

	mu         sync.Mutex
	rnd        *rand.Rand
	next       uint64
	sandboxes  map[string]*sandbox
	containers map[string]*container
	order      []string // sandbox and container ids in creation order
	images     map[string]runtime.Image
	ips        map[netip.Addr]bool
	calls      map[string]int
}

type sandbox struct {
	s   runtime.Sandbox
	cfg runtime.SandboxConfig
}

type container struct {
	c          runtime.Container
	behavior   Behavior
	exitAt     time.Time // zero: runs until stopped
	ignoreTerm bool
	usage      Usage
	cpuNanos   uint64    // CPU time used up to cpuSince
	cpuSince   time.Time // since when usage.NanoCores applies
}

var _ runtime.Runtime = (*Fake)(nil)

// New returns an empty Fake.
func New(cfg Config) *Fake {
	defaults.Clock(&cfg.Clock)
	sum := sha256.Sum256([]byte(fmt.Sprintf("%p-%d", &cfg, cfg.Seed)))
	return &Fake{
		cfg:        cfg,
		clk:        cfg.Clock,
		nonce:      hex.EncodeToString(sum[:4]),
		rnd:        rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		sandboxes:  map[string]*sandbox{},
		containers: map[string]*container{},
		images:     map[string]runtime.Image{},
		ips:        map[netip.Addr]bool{},
		calls:      map[string]int{},
	}
}

// Calls returns how often each method was called, by name ("StartContainer").
func (f *Fake) Calls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.calls))
	for k, v := range f.calls {
		out[k] = v
	}
	return out
}

func (f *Fake) newID() string {
	f.next++
	sum := sha256.Sum256([]byte(f.nonce + "/" + strconv.FormatUint(f.next, 10)))
	return hex.EncodeToString(sum[:16])
}

// Version reports "fake" and Version.
func (f *Fake) Version(ctx context.Context) (runtime.VersionInfo, error) {
	return runtime.VersionInfo{RuntimeName: "fake", RuntimeVersion: Version}, nil
}

func (f *Fake) allocIP(cidr string) (string, error) {
	if cidr == "" {
		cidr = f.cfg.PodCIDR
	}
	if cidr == "" {
		return "", fmt.Errorf("runtimetest: run sandbox: %w", network.ErrNoPodCIDR)
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", fmt.Errorf("runtimetest: pod CIDR %q: %w", cidr, err)
	}
	p = p.Masked()
	// Skip the network address and the gateway (.1), as host-local IPAM does.
	a := p.Addr().Next().Next()
	for ; p.Contains(a); a = a.Next() {
		if !f.ips[a] {
			f.ips[a] = true
			return a.String(), nil
		}
	}
	return "", fmt.Errorf("runtimetest: no free IP left in %s", p)
}

func (f *Fake) releaseIP(ip string) {
	if a, err := netip.ParseAddr(ip); err == nil {
		delete(f.ips, a)
	}
}

// RunPodSandbox creates a Ready sandbox with an IP from cfg.PodCIDR (else
// Config.PodCIDR); without either it fails with an error wrapping
// network.ErrNoPodCIDR. IPs are never handed out twice while in use.
func (f *Fake) RunPodSandbox(ctx context.Context, cfg runtime.SandboxConfig) (runtime.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return runtime.Sandbox{}, fmt.Errorf("runtimetest: run sandbox: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["RunPodSandbox"]++
	ip, err := f.allocIP(cfg.PodCIDR)
	if err != nil {
		return runtime.Sandbox{}, err
	}
	sb := &sandbox{s: runtime.Sandbox{
		ID:          f.newID(),
		Metadata:    cfg.Metadata,
		State:       runtime.SandboxReady,
		IP:          ip,
		CreatedAt:   f.clk.Now(),
		Labels:      maps.Clone(cfg.Labels),
		Annotations: maps.Clone(cfg.Annotations),
	}, cfg: copyConfig(cfg)}
	f.sandboxes[sb.s.ID] = sb
	f.order = append(f.order, sb.s.ID)
	return f.sandboxCopy(sb), nil
}

// SandboxConfig returns the configuration the sandbox id was created with,
// and whether the sandbox exists.
func (f *Fake) SandboxConfig(id string) (runtime.SandboxConfig, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb, ok := f.sandboxes[id]
	if !ok {
		return runtime.SandboxConfig{}, false
	}
	return copyConfig(sb.cfg), true
}

// copyConfig returns a deep copy of c.
func copyConfig(c runtime.SandboxConfig) runtime.SandboxConfig {
	c.Labels, c.Annotations = maps.Clone(c.Labels), maps.Clone(c.Annotations)
	c.PortMappings = slices.Clone(c.PortMappings)
	if c.DNS != nil {
		c.DNS = &runtime.DNSConfig{Servers: slices.Clone(c.DNS.Servers), Searches: slices.Clone(c.DNS.Searches), Options: slices.Clone(c.DNS.Options)}
	}
	aliases := c.HostAliases
	c.HostAliases = nil
	for _, a := range aliases {
		c.HostAliases = append(c.HostAliases, runtime.HostAlias{IP: a.IP, Hostnames: slices.Clone(a.Hostnames)})
	}
	return c
}

func (f *Fake) sandboxCopy(sb *sandbox) runtime.Sandbox {
	s := sb.s
	s.Labels, s.Annotations = maps.Clone(s.Labels), maps.Clone(s.Annotations)
	return s
}

// StopPodSandbox kills the sandbox's containers and releases its IP.
func (f *Fake) StopPodSandbox(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["StopPodSandbox"]++
	sb, ok := f.sandboxes[id]
	if !ok {
		return nil
	}
	now := f.clk.Now()
	for _, c := range f.containers {
		if c.c.SandboxID == id {
			f.refresh(c, now)
			f.kill(c, now, 137)
		}
	}
	if sb.s.State == runtime.SandboxReady {
		f.releaseIP(sb.s.IP)
		sb.s.State = runtime.SandboxNotReady
		sb.s.IP = ""
	}
	return nil
}

// RemovePodSandbox stops the sandbox and forgets it and its containers.
func (f *Fake) RemovePodSandbox(ctx context.Context, id string) error {
	if err := f.StopPodSandbox(ctx, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["RemovePodSandbox"]++
	if _, ok := f.sandboxes[id]; !ok {
		return nil
	}
	for cid, c := range f.containers {
		if c.c.SandboxID == id {
			delete(f.containers, cid)
		}
	}
	delete(f.sandboxes, id)
	f.compact()
	return nil
}

// compact drops removed ids from the creation order.
func (f *Fake) compact() {
	kept := f.order[:0]
	for _, id := range f.order {
		if f.sandboxes[id] != nil || f.containers[id] != nil {
			kept = append(kept, id)
		}
	}
	f.order = kept
}

// ListPodSandboxes returns the sandboxes matching flt in creation order.
func (f *Fake) ListPodSandboxes(ctx context.Context, flt runtime.SandboxFilter) ([]runtime.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["ListPodSandboxes"]++
	var out []runtime.Sandbox
	if flt.ID != "" {
		if sb, ok := f.sandboxes[flt.ID]; ok && flt.Matches(sb.s) {
			out = append(out, f.sandboxCopy(sb))
		}
		return out, nil
	}
	for _, id := range f.order {
		if sb, ok := f.sandboxes[id]; ok && flt.Matches(sb.s) {
			out = append(out, f.sandboxCopy(sb))
		}
	}
	return out, nil
}

// behavior is the image's behaviour, overridden by the config's environment.
func (f *Fake) behavior(cfg runtime.ContainerConfig) (Behavior, error) {
	b := f.cfg.Images[cfg.Image]
	for _, kv := range cfg.Env {
		switch kv.Key {
		case EnvExitAfter:
			d, err := time.ParseDuration(kv.Value)
			if err != nil {
				return b, fmt.Errorf("runtimetest: %s=%q: %w", EnvExitAfter, kv.Value, err)
			}
			b.Exits, b.ExitAfter = true, d
		case EnvExitCode:
			n, err := strconv.ParseInt(kv.Value, 10, 32)
			if err != nil {
				return b, fmt.Errorf("runtimetest: %s=%q: %w", EnvExitCode, kv.Value, err)
			}
			b.Exits, b.ExitCode = true, int32(n)
		case EnvIgnoreTerm:
			b.IgnoreTerm = kv.Value == "true"
		}
	}
	return b, nil
}

// CreateContainer creates a container in a Ready sandbox; the image must
// have been pulled.
func (f *Fake) CreateContainer(ctx context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("runtimetest: create container: %w", err)
	}
	b, err := f.behavior(cfg)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["CreateContainer"]++
	sb, ok := f.sandboxes[sandboxID]
	if !ok {
		return "", fmt.Errorf("runtimetest: create container %q: sandbox %s: %w", cfg.Metadata.Name, sandboxID, runtime.ErrNotFound)
	}
	if sb.s.State != runtime.SandboxReady {
		return "", fmt.Errorf("runtimetest: create container %q: sandbox %s is not ready: %w", cfg.Metadata.Name, sandboxID, runtime.ErrInvalidState)
	}
	img, ok := f.images[cfg.Image]
	if !ok {
		return "", fmt.Errorf("runtimetest: create container %q: image %q: %w", cfg.Metadata.Name, cfg.Image, runtime.ErrNotFound)
	}
	for _, c := range f.containers {
		if c.c.SandboxID == sandboxID && c.c.Metadata == cfg.Metadata {
			return "", fmt.Errorf("runtimetest: create container %q attempt %d in sandbox %s: %w",
				cfg.Metadata.Name, cfg.Metadata.Attempt, sandboxID, runtime.ErrAlreadyExists)
		}
	}
	usage := b.Usage
	if usage == (Usage{}) {
		usage = DefaultUsage
	}
	c := &container{behavior: b, usage: usage, c: runtime.Container{
		ID:          f.newID(),
		SandboxID:   sandboxID,
		Metadata:    cfg.Metadata,
		PodUID:      sb.s.Metadata.UID,
		Image:       cfg.Image,
		ImageRef:    img.ID,
		State:       runtime.ContainerCreated,
		CreatedAt:   f.clk.Now(),
		Labels:      maps.Clone(cfg.Labels),
		Annotations: maps.Clone(cfg.Annotations),
	}}
	f.containers[c.c.ID] = c
	f.order = append(f.order, c.c.ID)
	return c.c.ID, nil
}

// StartContainer takes Config.StartDelay (plus jitter), then runs the container.
func (f *Fake) StartContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	f.calls["StartContainer"]++
	c, ok := f.containers[id]
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("runtimetest: start container %s: %w", id, runtime.ErrNotFound)
	}
	if c.c.State != runtime.ContainerCreated {
		st := c.c.State
		f.mu.Unlock()
		return fmt.Errorf("runtimetest: start container %s: it is %s: %w", id, st, runtime.ErrInvalidState)
	}
	delay := f.cfg.StartDelay
	if f.cfg.StartJitter > 0 {
		delay += time.Duration(f.rnd.Int64N(int64(f.cfg.StartJitter)))
	}
	f.mu.Unlock()
	if delay > 0 {
		t := f.clk.NewTimer(delay)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("runtimetest: start container %s: %w", id, ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok = f.containers[id]
	if !ok {
		return fmt.Errorf("runtimetest: start container %s: removed while starting: %w", id, runtime.ErrNotFound)
	}
	if c.c.State != runtime.ContainerCreated {
		return fmt.Errorf("runtimetest: start container %s: it is %s: %w", id, c.c.State, runtime.ErrInvalidState)
	}
	now := f.clk.Now()
	c.c.State, c.c.StartedAt = runtime.ContainerRunning, now
	c.cpuSince = now
	if c.behavior.Exits {
		c.exitAt = now.Add(c.behavior.ExitAfter)
	}
	f.refresh(c, now)
	return nil
}

// refresh applies a due exit. Callers hold f.mu.
func (f *Fake) refresh(c *container, now time.Time) {
	if c.c.State == runtime.ContainerRunning && !c.exitAt.IsZero() && !now.Before(c.exitAt) {
		c.c.State, c.c.FinishedAt, c.c.ExitCode = runtime.ContainerExited, c.exitAt, c.behavior.ExitCode
		c.c.Reason = exitReason(c.c.ExitCode)
	}
}

func exitReason(code int32) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

// kill ends a created or running container with code. Callers hold f.mu.
func (f *Fake) kill(c *container, now time.Time, code int32) {
	switch c.c.State {
	case runtime.ContainerRunning:
		c.c.State, c.c.FinishedAt, c.c.ExitCode, c.c.Reason = runtime.ContainerExited, now, code, exitReason(code)
	case runtime.ContainerCreated:
		c.c.State, c.c.FinishedAt, c.c.ExitCode, c.c.Reason = runtime.ContainerExited, now, 0, "Completed"
		c.c.StartedAt = time.Time{}
	}
}

// StopContainer stops a container: at once (exit code 143), or after the
// timeout (137) for containers that ignore SIGTERM.
func (f *Fake) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	f.mu.Lock()
	f.calls["StopContainer"]++
	c, ok := f.containers[id]
	if !ok {
		f.mu.Unlock()
		return nil
	}
	now := f.clk.Now()
	f.refresh(c, now)
	if c.c.State != runtime.ContainerRunning || !c.behavior.IgnoreTerm || timeout <= 0 {
		code := int32(143)
		if c.behavior.IgnoreTerm {
			code = 137
		}
		f.kill(c, now, code)
		f.mu.Unlock()
		return nil
	}
	f.mu.Unlock()
	t := f.clk.NewTimer(timeout)
	select {
	case <-t.C():
	case <-ctx.Done():
		t.Stop()
		return fmt.Errorf("runtimetest: stop container %s: %w", id, ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok {
		now := f.clk.Now()
		f.refresh(c, now)
		f.kill(c, now, 137)
	}
	return nil
}

// RemoveContainer kills and forgets a container.
func (f *Fake) RemoveContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["RemoveContainer"]++
	if _, ok := f.containers[id]; !ok {
		return nil
	}
	delete(f.containers, id)
	f.compact()
	return nil
}

// ListContainers returns the containers matching flt in creation order.
func (f *Fake) ListContainers(ctx context.Context, flt runtime.ContainerFilter) ([]runtime.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["ListContainers"]++
	now := f.clk.Now()
	var out []runtime.Container
	add := func(c *container) {
		f.refresh(c, now)
		if flt.Matches(c.c) {
			cc := c.c
			cc.Labels, cc.Annotations = maps.Clone(cc.Labels), maps.Clone(cc.Annotations)
			out = append(out, cc)
		}
	}
	if flt.ID != "" {
		if c, ok := f.containers[flt.ID]; ok {
			add(c)
		}
		return out, nil
	}
	for _, id := range f.order {
		if c, ok := f.containers[id]; ok {
			add(c)
		}
	}
	return out, nil
}

// ListContainerStats returns the usage of the running containers matching
// flt: their CPU time grows at their Usage's rate on the Fake's clock.
func (f *Fake) ListContainerStats(ctx context.Context, flt runtime.ContainerFilter) ([]runtime.ContainerStats, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("runtimetest: container stats: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["ListContainerStats"]++
	now := f.clk.Now()
	var out []runtime.ContainerStats
	for _, id := range f.order {
		c, ok := f.containers[id]
		if !ok {
			continue
		}
		f.refresh(c, now)
		if c.c.State != runtime.ContainerRunning || !flt.Matches(c.c) {
			continue
		}
		out = append(out, runtime.ContainerStats{
			ID:                    c.c.ID,
			Timestamp:             now,
			CPUUsageNanos:         c.cpuAt(now),
			MemoryUsageBytes:      c.usage.MemoryBytes,
			MemoryWorkingSetBytes: c.usage.MemoryBytes,
		})
	}
	return out, nil
}

// cpuAt is the container's CPU time at now (not before its start).
func (c *container) cpuAt(now time.Time) uint64 {
	if c.cpuSince.IsZero() || !now.After(c.cpuSince) {
		return c.cpuNanos
	}
	// d ns at NanoCores per 1e9 ns, in 128 bits.
	hi, lo := bits.Mul64(uint64(now.Sub(c.cpuSince)), c.usage.NanoCores)
	used, _ := bits.Div64(hi%1e9, lo, 1e9)
	return c.cpuNanos + used
}

// SetUsage makes container id use u from now on (its CPU time so far is
// kept). ErrNotFound for an unknown container.
func (f *Fake) SetUsage(id string, u Usage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("runtimetest: set usage of %s: %w", id, runtime.ErrNotFound)
	}
	now := f.clk.Now()
	if !c.cpuSince.IsZero() {
		c.cpuNanos, c.cpuSince = c.cpuAt(now), now
	}
	c.usage = u
	return nil
}

// PullImage makes image present, unless its Behavior has a PullError.
func (f *Fake) PullImage(ctx context.Context, image string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["PullImage"]++
	if msg := f.cfg.Images[image].PullError; msg != "" {
		return "", fmt.Errorf("runtimetest: pull %q: %s: %w", image, msg, runtime.ErrImagePull)
	}
	if img, ok := f.images[image]; ok {
		return img.ID, nil
	}
	sum := sha256.Sum256([]byte(image))
	img := runtime.Image{ID: "sha256:" + hex.EncodeToString(sum[:]), RepoTags: []string{image}, Size: 1 << 20}
	f.images[image] = img
	return img.ID, nil
}

// ImageStatus returns a pulled image, else ErrNotFound.
func (f *Fake) ImageStatus(ctx context.Context, image string) (runtime.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["ImageStatus"]++
	img, ok := f.images[image]
	if !ok {
		return runtime.Image{}, fmt.Errorf("runtimetest: image %q: %w", image, runtime.ErrNotFound)
	}
	img.RepoTags = append([]string(nil), img.RepoTags...)
	return img, nil
}

// Exec runs cmd in a running container as its image's Behavior.Exec says.
// ErrNotFound for an unknown container, ErrInvalidState for one that does
// not run. It implements the exec seam of package nodeagent/probe.
func (f *Fake) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("runtimetest: exec in %s: %w", id, err)
	}
	f.mu.Lock()
	f.calls["Exec"]++
	c, ok := f.containers[id]
	if !ok {
		f.mu.Unlock()
		return 0, fmt.Errorf("runtimetest: exec in %s: %w", id, runtime.ErrNotFound)
	}
	f.refresh(c, f.clk.Now())
	if c.c.State != runtime.ContainerRunning {
		st := c.c.State
		f.mu.Unlock()
		return 0, fmt.Errorf("runtimetest: exec in %s: it is %s: %w", id, st, runtime.ErrInvalidState)
	}
	run := c.behavior.Exec
	f.mu.Unlock()
	if len(cmd) == 0 {
		return 0, fmt.Errorf("runtimetest: exec in %s: no command", id)
	}
	if run != nil {
		return run(id, cmd, stdin, stdout, stderr), nil
	}
	switch cmd[0] {
	case "true":
		return 0, nil
	case "false":
		return 1, nil
	}
	_, _ = fmt.Fprintf(stderr, "exec: %q: executable file not found in $PATH\n", cmd[0])
	return 127, nil
}
