package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent/hollow"
)

func newHollowCommand(g *globalOptions) *cobra.Command {
	var (
		nodes      int
		prefix     string
		startDelay time.Duration
		seed       uint64
		cpu, mem   string
		pods       int
		heartbeat  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "hollow --nodes N",
		Short: "Run N hollow node agents in one process, for scale tests (as Kubernetes' kubemark)",
		Long: `hollow runs N node agents in this process. Each is the real bosun agent
— it registers its Node, renews its Lease, watches the pods bound to it and
writes their status through the API — but on an in-memory fake runtime:
containers "run" after --start-delay without any process, image or network.

Use it to see the control plane schedule and converge at scale without
machines:

  bosun server --repo ./repo --no-agent --insecure-listen 127.0.0.1:6780 &
  bosun hollow --server http://127.0.0.1:6780 --nodes 3
  bosun get pods -A -o wide     # pods spread over hollow-node-0..2

--server may name several servers, comma-separated; the nodes fail over
between them.

Hollow nodes use the server's plain-HTTP development listener (they have
no node credentials). Like real nodes, each is Ready only once the control
plane gave it a /24 pod CIDR: the default --cluster-cidr (a /16) holds 256
nodes; give the server a larger one (e.g. --cluster-cidr 10.64.0.0/12 for
4,096) for more.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if nodes <= 0 {
				return fmt.Errorf("hollow: --nodes must be at least 1")
			}
			capacity := corev1.ResourceList{}
			for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem} {
				q, err := resource.ParseQuantity(v)
				if err != nil {
					return fmt.Errorf("hollow: --%s %q: %w", name, v, err)
				}
				capacity[name] = q
			}
			capacity[corev1.ResourcePods] = *resource.NewQuantity(int64(pods), resource.DecimalSI)
			// --server may list several servers: the nodes fail over
			// between them as real agents do.
			list := strings.Split(g.server, ",")
			c, err := client.New(strings.TrimSpace(list[0]), client.WithServers(trimAll(list[1:])...),
				client.WithHTTPClient(hollow.HTTPClient()), client.WithLogger(logger))
			if err != nil {
				return err
			}
			logger.Info("starting hollow nodes", "nodes", nodes, "server", c.URL())
			return hollow.Run(cmd.Context(), hollow.Config{
				Nodes:             nodes,
				NamePrefix:        prefix,
				Client:            c,
				StartDelay:        startDelay,
				Seed:              seed,
				Capacity:          capacity,
				Logger:            logger,
				Version:           version,
				HeartbeatInterval: heartbeat,
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "nodes", 3, "how many hollow nodes to run")
	f.StringVar(&prefix, "name-prefix", "hollow-node-", "node names are this prefix plus a number")
	f.DurationVar(&startDelay, "start-delay", 50*time.Millisecond, "how long a hollow container takes to start")
	f.Uint64Var(&seed, "seed", 0, "random seed for start delays and pod IPs (0 = from the clock; logged)")
	f.StringVar(&cpu, "cpu", "4", "CPU capacity of each hollow node")
	f.StringVar(&mem, "memory", "16Gi", "memory capacity of each hollow node")
	f.IntVar(&pods, "max-pods", 110, "pod capacity of each hollow node")
	f.DurationVar(&heartbeat, "heartbeat-interval", 10*time.Second, "how often each node renews its Lease (keep it well below the server's --node-monitor-grace-period)")
	return cmd
}

// trimAll returns ss with spaces trimmed and empty strings dropped.
func trimAll(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
