package hollow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

// Config configures Run. Nodes and Client are required.
type Config struct {
	// Nodes is how many hollow nodes to run.
	Nodes int
	// NamePrefix prefixes the node names, followed by 0..Nodes-1; default "hollow-node-".
	NamePrefix string
	// Client reaches the API. Give it an http.Client whose transport keeps
	// enough idle connections for many agents (see HTTPClient).
	Client *client.Client
	// StartDelay is how long a container takes to start on a hollow node:
	// a random time in [0, StartDelay), seeded per node from Seed.
	StartDelay time.Duration
	// Seed seeds the start delays.
	Seed uint64
	// Capacity of every node; default cpu 4, memory 16Gi, pods 110.
	Capacity corev1.ResourceList
	// Logger receives the agents' logs; nil discards.
	Logger *slog.Logger
	// Clock drives the agents; default the real clock.
	Clock clock.WithTicker
	// Version is reported as kubeletVersion "bosun/<version>".
	Version string
	// HeartbeatInterval of every agent; default 10s. Agents' heartbeats are
	// spread evenly over it.
	HeartbeatInterval time.Duration
	// Workers per agent; default 4.
	Workers int
	// Events makes each hollow node record the Events a real agent
	// records (Pulled, Created, Started, ...) at a real agent's rate. Off
	// by default, so that scale runs measure the control plane's own work
	// (kubemark's hollow kubelets do record them).
	Events bool
}

// DefaultCapacity is a hollow node's capacity when Config.Capacity is nil.
func DefaultCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
}

// NodeName returns the name of hollow node i.
func (c Config) NodeName(i int) string {
	p := c.NamePrefix
	if p == "" {
		p = "hollow-node-"
	}
	return fmt.Sprintf("%s%d", p, i)
}

// Run runs cfg.Nodes node agents in this process, each a nodeagent.Agent on
// its own fake runtime, sharing one watch of all bound pods. It blocks until
// ctx ends and returns nil, or an error when an agent cannot start.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Nodes <= 0 {
		return errors.New("hollow: the number of nodes must be positive")
	}
	if cfg.Client == nil {
		return errors.New("hollow: a client of the API is required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	if cfg.Capacity == nil {
		cfg.Capacity = DefaultCapacity()
	}
	defaults.Positive(&cfg.HeartbeatInterval, nodeagent.DefaultHeartbeatInterval)
	defaults.Positive(&cfg.Workers, 4)
	shared := NewSharedPods(cfg.Client, cfg.Logger)
	agents := make([]*nodeagent.Agent, 0, cfg.Nodes)
	for i := range cfg.Nodes {
		name := cfg.NodeName(i)
		rt := runtimetest.New(runtimetest.Config{Clock: cfg.Clock, StartJitter: cfg.StartDelay, Seed: cfg.Seed + uint64(i)})
		a, err := nodeagent.New(nodeagent.Config{
			NodeName:          name,
			Client:            cfg.Client,
			Runtime:           rt,
			Logger:            cfg.Logger,
			Clock:             cfg.Clock,
			Version:           cfg.Version,
			HeartbeatInterval: cfg.HeartbeatInterval,
			HeartbeatOffset:   time.Duration(i) * cfg.HeartbeatInterval / time.Duration(cfg.Nodes),
			Capacity:          cfg.Capacity,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.%d.%d.%d", 128+i>>16&63, i>>8&255, i&255)},
				{Type: corev1.NodeHostName, Address: name},
			},
			Labels:   map[string]string{"bosun.dev/hollow": "true"},
			Pods:     shared,
			Workers:  cfg.Workers,
			EventQPS: hollowEventQPS(cfg.Events),
			// No volumes on hollow nodes: no loop watching every PV each.
			NoLocalVolumeCleanup: true,
		})
		if err != nil {
			return fmt.Errorf("hollow: node %s: %w", name, err)
		}
		agents = append(agents, a)
	}
	cfg.Logger.Info("starting hollow nodes", "nodes", cfg.Nodes, "prefix", cfg.NodeName(0))
	var wg sync.WaitGroup
	wg.Go(func() { _ = shared.Run(ctx) })
	errs := make(chan error, len(agents))
	for _, a := range agents {
		wg.Go(func() {
			if err := a.Run(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// hollowEventQPS is nodeagent.Config.EventQPS for Config.Events.
func hollowEventQPS(on bool) float64 {
	if on {
		return 0 // the agent's default
	}
	return -1
}
