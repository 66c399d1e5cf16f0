package stats

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent/host"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// DefaultPeriod is how often a Collector samples unless told otherwise.
const DefaultPeriod = 10 * time.Second

// Runtime is what a Collector reads of the container runtime.
// runtime.Runtime implements it.
type Runtime interface {
	ListPodSandboxes(ctx context.Context, f runtime.SandboxFilter) ([]runtime.Sandbox, error)
	ListContainers(ctx context.Context, f runtime.ContainerFilter) ([]runtime.Container, error)
	ListContainerStats(ctx context.Context, f runtime.ContainerFilter) ([]runtime.ContainerStats, error)
}

// Config configures a Collector. NodeName and Runtime are required.
type Config struct {
	// NodeName names the node in the Summary.
	NodeName string
	// Runtime runs the containers sampled.
	Runtime Runtime
	// Host reads the machine's usage; nil means host.ReadUsage.
	Host func() (host.Usage, error)
	// Period is the time between samples; default DefaultPeriod.
	Period time.Duration
	// Clock times the samples; default the real clock.
	Clock clock.WithTicker
	// Logger receives failed samples; nil discards.
	Logger *slog.Logger
}

// Collector samples usage and answers Summary. Create it with New.
type Collector struct {
	cfg   Config
	log   *slog.Logger
	start time.Time

	mu         sync.Mutex
	prev, last *sample // nil until taken
}

// sample is one moment of the node and its running containers.
type sample struct {
	at         time.Time
	host       host.Usage
	hostErr    error
	containers map[string]containerSample // by container id
}

type containerSample struct {
	c     runtime.Container
	pod   runtime.SandboxMetadata
	podAt time.Time // the sandbox's creation
	stats runtime.ContainerStats
}

// New checks cfg and returns a Collector that has taken no sample yet.
func New(cfg Config) (*Collector, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("stats: a node name is required")
	}
	if cfg.Runtime == nil {
		return nil, errors.New("stats: a runtime is required")
	}
	if cfg.Host == nil {
		cfg.Host = host.ReadUsage
	}
	defaults.Positive(&cfg.Period, DefaultPeriod)
	defaults.Clock(&cfg.Clock)
	defaults.Logger(&cfg.Logger)
	return &Collector{cfg: cfg, log: cfg.Logger, start: cfg.Clock.Now()}, nil
}

// Run samples at once and then every Config.Period until ctx ends; it
// returns nil then. A failed sample is logged and the previous ones kept.
func (c *Collector) Run(ctx context.Context) error {
	t := c.cfg.Clock.NewTicker(c.cfg.Period)
	defer t.Stop()
	for {
		if err := c.Sample(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("sampling the containers' usage failed; kubectl top shows the last good sample", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// Sample takes one sample now: the host's usage and every running
// container's. Run calls it every period; tests call it directly.
func (c *Collector) Sample(ctx context.Context) error {
	at := c.cfg.Clock.Now()
	s := &sample{at: at, containers: map[string]containerSample{}}
	s.host, s.hostErr = c.cfg.Host()
	sbs, err := c.cfg.Runtime.ListPodSandboxes(ctx, runtime.SandboxFilter{})
	if err != nil {
		return err
	}
	pods := make(map[string]runtime.Sandbox, len(sbs))
	for _, sb := range sbs {
		pods[sb.ID] = sb
	}
	cs, err := c.cfg.Runtime.ListContainers(ctx, runtime.ContainerFilter{State: runtime.ContainerRunning})
	if err != nil {
		return err
	}
	byID := make(map[string]runtime.Container, len(cs))
	for _, ct := range cs {
		byID[ct.ID] = ct
	}
	st, err := c.cfg.Runtime.ListContainerStats(ctx, runtime.ContainerFilter{})
	if err != nil {
		return err
	}
	for _, one := range st {
		ct, ok := byID[one.ID]
		sb, sbOK := pods[ct.SandboxID]
		if !ok || !sbOK {
			continue // started or removed between the calls
		}
		if one.Timestamp.IsZero() {
			one.Timestamp = at
		}
		s.containers[one.ID] = containerSample{c: ct, pod: sb.Metadata, podAt: sb.CreatedAt, stats: one}
	}
	c.mu.Lock()
	c.prev, c.last = c.last, s
	c.mu.Unlock()
	return nil
}

// Summary returns kubelet's summary of the last two samples and the window
// its CPU rates are averaged over (the time between them); nil before the
// first sample. Pods are in the order of their namespace, name.
func (c *Collector) Summary() (*statsv1alpha1.Summary, time.Duration) {
	c.mu.Lock()
	prev, last := c.prev, c.last
	c.mu.Unlock()
	if last == nil {
		return nil, 0
	}
	var window time.Duration
	if prev != nil {
		window = last.at.Sub(prev.at)
	}
	sum := &statsv1alpha1.Summary{
		Node: statsv1alpha1.NodeStats{NodeName: c.cfg.NodeName, StartTime: metav1.NewTime(c.start)},
		Pods: []statsv1alpha1.PodStats{},
	}
	if last.hostErr == nil {
		now := metav1.NewTime(last.at)
		sum.Node.CPU = &statsv1alpha1.CPUStats{Time: now, UsageCoreNanoSeconds: ptr(last.host.CPUUsageNanos)}
		if prev != nil && prev.hostErr == nil {
			sum.Node.CPU.UsageNanoCores = rate(prev.host.CPUUsageNanos, last.host.CPUUsageNanos, window)
		}
		sum.Node.Memory = &statsv1alpha1.MemoryStats{Time: now,
			AvailableBytes:  ptr(last.host.MemoryAvailableBytes),
			UsageBytes:      ptr(last.host.MemoryUsageBytes),
			WorkingSetBytes: ptr(last.host.MemoryWorkingSetBytes)}
	}
	byPod := map[string]int{}
	for id, cs := range last.containers {
		i, ok := byPod[cs.pod.UID]
		if !ok {
			i = len(sum.Pods)
			byPod[cs.pod.UID] = i
			sum.Pods = append(sum.Pods, statsv1alpha1.PodStats{
				PodRef:    statsv1alpha1.PodReference{Name: cs.pod.Name, Namespace: cs.pod.Namespace, UID: cs.pod.UID},
				StartTime: metav1.NewTime(cs.podAt),
			})
		}
		at := metav1.NewTime(cs.stats.Timestamp)
		out := statsv1alpha1.ContainerStats{
			Name:      cs.c.Metadata.Name,
			StartTime: metav1.NewTime(cs.c.StartedAt),
			CPU:       &statsv1alpha1.CPUStats{Time: at, UsageCoreNanoSeconds: ptr(cs.stats.CPUUsageNanos)},
			Memory: &statsv1alpha1.MemoryStats{Time: at,
				UsageBytes: ptr(cs.stats.MemoryUsageBytes), WorkingSetBytes: ptr(cs.stats.MemoryWorkingSetBytes)},
		}
		if prev != nil {
			if p, ok := prev.containers[id]; ok {
				out.CPU.UsageNanoCores = rate(p.stats.CPUUsageNanos, cs.stats.CPUUsageNanos, cs.stats.Timestamp.Sub(p.stats.Timestamp))
			}
		}
		sum.Pods[i].Containers = append(sum.Pods[i].Containers, out)
	}
	for i := range sum.Pods {
		p := &sum.Pods[i]
		sortContainers(p.Containers)
		p.CPU, p.Memory = podTotals(p.Containers)
	}
	sortPods(sum.Pods)
	return sum, window
}

// rate is the CPU use between two cumulative times d apart, in
// nanocores; nil when it cannot be known (no time passed, or the counter
// went back).
func rate(before, after uint64, d time.Duration) *uint64 {
	if d <= 0 || after < before {
		return nil
	}
	r := uint64(float64(after-before) / d.Seconds())
	return &r
}

// podTotals sums the containers' usage; the CPU rate only when every
// container has one.
func podTotals(cs []statsv1alpha1.ContainerStats) (*statsv1alpha1.CPUStats, *statsv1alpha1.MemoryStats) {
	cpu := &statsv1alpha1.CPUStats{UsageCoreNanoSeconds: ptr[uint64](0), UsageNanoCores: ptr[uint64](0)}
	mem := &statsv1alpha1.MemoryStats{UsageBytes: ptr[uint64](0), WorkingSetBytes: ptr[uint64](0)}
	for _, c := range cs {
		if c.CPU.Time.After(cpu.Time.Time) {
			cpu.Time, mem.Time = c.CPU.Time, c.CPU.Time
		}
		*cpu.UsageCoreNanoSeconds += *c.CPU.UsageCoreNanoSeconds
		if c.CPU.UsageNanoCores == nil || cpu.UsageNanoCores == nil {
			cpu.UsageNanoCores = nil
		} else {
			*cpu.UsageNanoCores += *c.CPU.UsageNanoCores
		}
		*mem.UsageBytes += *c.Memory.UsageBytes
		*mem.WorkingSetBytes += *c.Memory.WorkingSetBytes
	}
	return cpu, mem
}

func ptr[T any](v T) *T { return &v }
func sortContainers(cs []statsv1alpha1.ContainerStats) {
	slices.SortFunc(cs, func(a, b statsv1alpha1.ContainerStats) int { return cmp.Compare(a.Name, b.Name) })
}

func sortPods(ps []statsv1alpha1.PodStats) {
	slices.SortFunc(ps, func(a, b statsv1alpha1.PodStats) int {
		return cmp.Or(cmp.Compare(a.PodRef.Namespace, b.PodRef.Namespace), cmp.Compare(a.PodRef.Name, b.PodRef.Name),
			cmp.Compare(a.PodRef.UID, b.PodRef.UID))
	})
}
