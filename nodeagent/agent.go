package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/clock"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent/localpv"
	"github.com/bosun-dev/bosun/nodeagent/podenv"
	"github.com/bosun-dev/bosun/nodeagent/podmanager"
	"github.com/bosun-dev/bosun/nodeagent/podworkers"
	"github.com/bosun-dev/bosun/nodeagent/probe"
	"github.com/bosun-dev/bosun/nodeagent/proxy"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/staticpods"
	"github.com/bosun-dev/bosun/nodeagent/status"
	"github.com/bosun-dev/bosun/nodeagent/volumes"
)

// Defaults of Config.
const (
	DefaultHeartbeatInterval    = 10 * time.Second
	DefaultStatusReportInterval = time.Minute
	DefaultLeaseDuration        = 40 * time.Second
	DefaultRelistInterval       = time.Second
	DefaultWorkers              = 4
	DefaultMaxPods              = 110
	DefaultBackoffInitial       = 10 * time.Second
	DefaultBackoffMax           = 300 * time.Second
	DefaultBackoffReset         = 10 * time.Minute
	DefaultNetworkPoll          = 100 * time.Millisecond
	DefaultNetworkCheck         = 10 * time.Millisecond
	// DefaultRootDir holds the pods' directories (volumes).
	DefaultRootDir = "/var/lib/bosun/agent"
	// LeaseNamespace holds the nodes' heartbeat Leases.
	LeaseNamespace = "kube-node-lease"
)

// NetworkReadiness says whether the node's network is ready for pods.
type NetworkReadiness interface {
	// NetworkReady returns nil when the node's network can carry pods, else
	// an error saying what is missing (it becomes the message of the
	// node's NetworkUnavailable and Ready conditions). It must not block.
	NetworkReady() error
}

// Backoff is the CrashLoopBackOff (and image pull back-off) policy: the
// first restart is immediate, then Initial doubling up to Max; a container
// that ran cleanly for Reset starts over at Initial.
type Backoff struct {
	Initial, Max, Reset time.Duration
}

// Config configures an Agent. NodeName, Client and Runtime are required.
type Config struct {
	// NodeName is the Node this agent registers and runs pods for.
	NodeName string
	// Client reaches the API: the agent's only way to the control plane.
	Client *client.Client
	// Runtime runs the pods' sandboxes and containers.
	Runtime runtime.Runtime
	// Logger receives the agent's log; nil discards.
	Logger *slog.Logger
	// Clock drives heartbeats, relists and back-offs; default the real clock.
	Clock clock.WithTicker
	// Version is bosun's version, reported as kubeletVersion "bosun/<version>"; default "dev".
	Version string
	// HeartbeatInterval is how often the Lease is renewed and the Node
	// checked; default 10s. HeartbeatOffset delays the first periodic
	// heartbeat (after the one at registration), so that many agents in one
	// process spread their writes.
	HeartbeatInterval, HeartbeatOffset time.Duration
	// StatusReportInterval is how often the Node status is written when
	// nothing but heartbeat times changed; default 1m.
	StatusReportInterval time.Duration
	// LeaseDuration is the Lease's leaseDurationSeconds; default 40s.
	LeaseDuration time.Duration
	// Capacity is the Node's capacity (cpu, memory, pods), also its
	// allocatable; pods defaults to 110.
	Capacity corev1.ResourceList
	// Addresses are the Node's addresses; the first InternalIP (else the
	// first address) is the pods' hostIP.
	Addresses []corev1.NodeAddress
	// APIPort is the port of the agent's API (package nodeagent/agentapi:
	// logs and exec), published as the Node's
	// status.daemonEndpoints.kubeletEndpoint.port, where the API server
	// reaches it at the Node's InternalIP; 0 publishes none.
	APIPort int32
	// Labels are added to the Node's labels (with kubernetes.io/hostname and
	// kubernetes.io/os, which the agent sets).
	Labels map[string]string
	// Pods delivers the node's pods; default APIPodSource (a list and watch
	// with fieldSelector spec.nodeName=NodeName through Client).
	Pods PodSource
	// Prober judges running containers; default: ready when running.
	Prober Prober
	// Workers is how many pods are synced at once (each pod has its own
	// worker; this bounds how many sync together), and how many pod
	// statuses are written at once; default 4.
	Workers int
	// RelistInterval is how often the runtime's state is listed to notice
	// exits and orphans; default 1s.
	RelistInterval time.Duration
	// Backoff is the restart back-off; zero fields take 10s, 300s and 10m.
	Backoff Backoff

	// RootDir holds a directory per pod (RootDir/pods/<uid>) with its
	// volumes; default DefaultRootDir. Agents sharing a process (hollow
	// nodes) may share it: each touches only its own pods' directories.
	RootDir string
	// DisableTmpfs keeps secret volumes and emptyDir volumes of medium
	// Memory in plain directories even when running as root (where they are
	// otherwise tmpfs mounts); not root has the same effect, with a warning.
	DisableTmpfs bool
	// NoLocalVolumeCleanup turns off the loop that removes the directories
	// of node-local PersistentVolumes deleted meanwhile (package localpv):
	// hollow nodes have no volumes and would each watch every PV.
	NoLocalVolumeCleanup bool
	// RunProbes runs the pods' liveness, readiness and startup probes
	// (package probe) against the pod IPs, exec probes through the Runtime
	// when it implements probe.Execer. Off (the default, and what hollow
	// nodes want: their pod IPs are not real), a running container is
	// ready. Ignored when Prober is set.
	RunProbes bool
	// ProbeDial, when set, opens the connections of httpGet and tcpSocket
	// probes instead of net.Dialer (tests).
	ProbeDial probe.DialFunc
	// PodManifestPath is a directory of static pod manifests
	// (--pod-manifest-path; package staticpods); "" = no static pods.
	// Static pods run whether or not the API is reachable, and are shown in
	// the API as mirror pods.
	PodManifestPath string
	// StaticPodRescan is how often PodManifestPath is reread even without
	// file events; default 20s.
	StaticPodRescan time.Duration
	// Network, when set, says whether the node's network can carry pods
	// once the node has its pod CIDR: the real agent passes its
	// routes.Controller (routes to every other node programmed). Until the
	// node has a pod CIDR and Network is ready, the agent reports
	// NetworkUnavailable=True and Ready=False, so that no pod is scheduled
	// to it. nil: the pod CIDR alone decides (hollow nodes).
	Network NetworkReadiness
	// NetworkPoll is the first interval at which a node whose network is
	// not ready rereads its Node and checks Network, doubling up to
	// HeartbeatInterval; default 100ms.
	NetworkPoll time.Duration
	// NetworkCheck is how often a node that has not reported Ready asks
	// Network (in memory, no API request) whether it is ready now, so that
	// Ready is written as soon as the routes are programmed rather than at
	// the next NetworkPoll; default 10ms. The checks stop once the node
	// reported Ready, so a Ready node makes none.
	NetworkCheck time.Duration
	// PodsAfter, when not nil, holds back every pod sync (static pods'
	// too) until it is closed, while the agent registers its Node and
	// heartbeats: the real agent closes it once the image tarballs of its
	// images directory are imported. Pod updates meanwhile are kept and
	// synced then.
	PodsAfter <-chan struct{}
	// ServiceEnv computes the service environment variables of a pod
	// (FOO_SERVICE_HOST, ...) from the services that exist when one of its
	// containers is created (listed through Client, a list serving the pod
	// starts of one second), for pods whose enableServiceLinks is not false.
	// Default proxy.ServiceEnv; a func returning nil turns them off.
	ServiceEnv func(services []*corev1.Service, namespace string) []corev1.EnvVar
	// PodDNS computes each pod's resolv.conf from its dnsPolicy and
	// dnsConfig when its sandbox is created: the real agent passes a
	// *dns.PodConfigurer (package nodeagent/dns) pointing ClusterFirst pods
	// at its DNS server. nil: pods get a copy of the host's resolv.conf.
	PodDNS PodDNS
	// ClusterDomain is the cluster domain ("cluster.local"): a pod with
	// spec.hostname and spec.subdomain finds its fully qualified name
	// <hostname>.<subdomain>.<namespace>.svc.<domain> in its /etc/hosts.
	// "": no such line.
	ClusterDomain string
	// EventQPS and EventBurst bound the Events the agent writes (Pulled,
	// Created, Started, Killing, Unhealthy, BackOff, FailedMount, ...), as
	// the kubelet's --event-qps and --event-burst; defaults
	// events.DefaultQPS and events.DefaultBurst. A negative EventQPS
	// writes none.
	EventQPS   float64
	EventBurst int
	// Metrics, when not nil, receives the kubelet's metrics this agent
	// keeps: kubelet_pod_start_duration_seconds, kubelet_running_pods,
	// kubelet_running_containers, and the probes' prober_probe_total.
	Metrics prometheus.Registerer
}

// PodDNS computes a pod's resolv.conf (*dns.PodConfigurer is one).
type PodDNS interface {
	// PodDNS returns the pod's resolv.conf; an error (the host's
	// resolv.conf unreadable) fails the sandbox's creation, to be retried.
	PodDNS(pod *corev1.Pod) (*runtime.DNSConfig, error)
}

// Agent is a node agent: it registers its Node, heartbeats, and runs the
// pods bound to it on its Runtime. Create it with New, then Run it.
//
// It wires kubelet's parts: the pod manager (package podmanager) holds the
// desired pods, fed by the PodSource and the static pod files; the pod
// workers (package podworkers) run one goroutine per pod, calling the
// podSyncer; the status manager (package status) writes the statuses the
// syncs compute; the pleg notices runtime changes and orphans; the
// nodeReporter keeps the Node and its Lease current.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	pods    *podmanager.Manager
	workers *podworkers.Workers
	status  *status.Manager
	syncer  *podSyncer
	node    *nodeReporter
	pleg    *pleg
	source  PodSource
	probes  *probe.Manager   // nil unless RunProbes
	rec     *events.Recorder // nil when EventQPS < 0
}

// clientSink writes the agent's Events through the API.
type clientSink struct{ c *client.Client }

func (s clientSink) Create(ctx context.Context, obj api.Object) error {
	return s.c.Create(ctx, eventsResource, obj)
}

func (s clientSink) Update(ctx context.Context, obj api.Object) error {
	return s.c.Update(ctx, eventsResource, obj)
}

// The pod manager is what the PodSource feeds.
var _ PodHandler = (*podmanager.Manager)(nil)

// New checks cfg, fills in defaults and returns an Agent.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.NodeName == "":
		return nil, errors.New("nodeagent: a node name is required")
	case cfg.Client == nil:
		return nil, errors.New("nodeagent: a client of the API is required")
	case cfg.Runtime == nil:
		return nil, errors.New("nodeagent: a container runtime is required")
	}
	cfg = withDefaults(cfg)
	log := cfg.Logger.With("node", cfg.NodeName)
	a := &Agent{cfg: cfg, log: log, source: cfg.Pods}
	if cfg.EventQPS >= 0 {
		a.rec = events.New(events.Config{Sink: clientSink{cfg.Client}, Component: "kubelet", Host: cfg.NodeName,
			QPS: cfg.EventQPS, Burst: cfg.EventBurst, Clock: cfg.Clock, Logger: log})
	}
	if a.source == nil {
		a.source = APIPodSource{Client: cfg.Client, Logger: log}
	}
	a.node = &nodeReporter{cfg: &a.cfg, c: cfg.Client, rt: cfg.Runtime, clk: cfg.Clock, log: log, rec: a.rec}
	a.pleg = &pleg{rt: cfg.Runtime, clk: cfg.Clock, log: log, interval: cfg.RelistInterval,
		kick: make(chan struct{}, 1), state: map[string]string{}}
	claims, err := volumes.APIClaims(cfg.Client)
	if err != nil {
		return nil, fmt.Errorf("nodeagent: %w", err)
	}
	s := &podSyncer{

		hostIP:      hostIP(cfg.Addresses),
		configRetry: cfg.Backoff.Initial,
		log:         log,
		clk:         cfg.Clock,
		rt:          cfg.Runtime,
		c:           cfg.Client,
		node:        a.node,
		prober:      cfg.Prober,
		back:        newBackoffs(cfg.Backoff, cfg.Clock),
		vols: volumes.New(volumes.Config{RootDir: cfg.RootDir, NodeName: cfg.NodeName, DisableTmpfs: cfg.DisableTmpfs,
			Allocatable: cfg.Capacity, Claims: claims, Logger: log}),
		services: &serviceLister{c: cfg.Client, clk: cfg.Clock},
		dns:      cfg.PodDNS,
		domain:   strings.TrimSuffix(cfg.ClusterDomain, "."),
		rec:      a.rec,
	}
	if cfg.Metrics != nil {
		s.metrics = newAgentMetrics(cfg.Metrics)
	}
	s.env = podenv.New(podenv.Config{NodeName: cfg.NodeName, HostIP: s.hostIP, Capacity: cfg.Capacity,
		ServiceEnv: cfg.ServiceEnv, Logger: log})
	a.syncer = s
	a.workers = podworkers.New(podworkers.Config{Sync: s.sync, Clock: cfg.Clock, Logger: log, MaxConcurrent: cfg.Workers})
	s.notify = a.workers.Update
	a.pods = podmanager.New(podmanager.Config{Notify: a.workers.Update, Logger: log,
		Listed: func(int) { a.pleg.relistSoon() }}) // look for orphans now
	s.pods = a.pods
	a.pleg.synced, a.pleg.known, a.pleg.podDirs, a.pleg.notify = a.pods.Synced, a.pods.Known, s.vols.PodDirUIDs, a.workers.Update
	sm, err := status.New(status.Config{Client: cfg.Client, Clock: cfg.Clock, Logger: log, Writers: cfg.Workers,
		OnWritten: func(p *corev1.Pod) {
			a.pods.StorePod(p)
			if !staticpods.IsMirror(p) && terminal(p.Status.Phase) {
				a.workers.Update(string(p.UID)) // stop what still runs, now that the API has the phase
			}
		}})
	if err != nil {
		return nil, fmt.Errorf("nodeagent: %w", err)
	}
	a.status, s.status = sm, sm
	if s.prober == nil && cfg.RunProbes {
		pc := probe.Config{Clock: cfg.Clock, Logger: log, Dial: cfg.ProbeDial, OnChange: a.Resync, Recorder: a.rec, Metrics: cfg.Metrics}
		if ex, ok := cfg.Runtime.(probe.Execer); ok {
			pc.Execer = ex
		}
		a.probes = probe.NewManager(pc)
		s.probes = a.probes
		s.prober = managerProber{a.probes}
	}
	if s.prober == nil {
		s.prober = RunningIsReady{}
	}
	s.hooks = &probe.Checker{Dial: cfg.ProbeDial}
	if ex, ok := cfg.Runtime.(probe.Execer); ok {
		s.hooks.Execer = ex
	}
	return a, nil
}

// withDefaults fills in the defaults of cfg.
func withDefaults(cfg Config) Config {
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	defaults.Positive(&cfg.HeartbeatInterval, DefaultHeartbeatInterval)
	defaults.Positive(&cfg.StatusReportInterval, DefaultStatusReportInterval)
	defaults.Positive(&cfg.LeaseDuration, DefaultLeaseDuration)
	defaults.Positive(&cfg.Workers, DefaultWorkers)
	defaults.Positive(&cfg.RelistInterval, DefaultRelistInterval)
	defaults.Positive(&cfg.Backoff.Initial, DefaultBackoffInitial)
	defaults.Positive(&cfg.Backoff.Max, DefaultBackoffMax)
	defaults.Positive(&cfg.Backoff.Reset, DefaultBackoffReset)
	defaults.Positive(&cfg.NetworkPoll, DefaultNetworkPoll)
	defaults.Positive(&cfg.NetworkCheck, DefaultNetworkCheck)
	if cfg.RootDir == "" {
		cfg.RootDir = DefaultRootDir
	}
	if cfg.ServiceEnv == nil {
		cfg.ServiceEnv = proxy.ServiceEnv
	}
	defaults.Positive(&cfg.StaticPodRescan, staticpods.DefaultRescan)
	capacity := corev1.ResourceList{}
	for k, v := range cfg.Capacity {
		capacity[k] = v.DeepCopy()
	}
	if _, ok := capacity[corev1.ResourcePods]; !ok {
		capacity[corev1.ResourcePods] = *resource.NewQuantity(DefaultMaxPods, resource.DecimalSI)
	}
	cfg.Capacity = capacity
	return cfg
}

func hostIP(addrs []corev1.NodeAddress) string {
	for _, a := range addrs {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	for _, a := range addrs {
		if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
			return a.Address
		}
	}
	return ""
}

// NodeName returns the name of the agent's Node.
func (a *Agent) NodeName() string { return a.cfg.NodeName }

// Resync asks the agent to look at the pod with this UID again (a prober
// whose result changed calls it). It never blocks; before Run, the pod is
// looked at when Run starts.
func (a *Agent) Resync(podUID string) { a.workers.Update(podUID) }

// LookupPod returns a copy of the pod namespace/name as the agent runs it:
// a pod of the API bound to this node, or a static pod (named
// <name>-<node>, like its mirror pod). ok is false when the agent runs no
// such pod (or has not listed its pods yet). The agent's API (package
// nodeagent/agentapi) uses it to find a pod's UID and containers for
// logs and exec.
func (a *Agent) LookupPod(namespace, name string) (pod *corev1.Pod, ok bool) {
	return a.pods.Lookup(namespace, name)
}

// Run runs the static pods (if any) at once, registers the Node
// (retrying until it succeeds), then heartbeats and runs the node's pods
// from the API until ctx ends. It returns nil after ctx ends, and an error
// only when the runtime cannot be reached at start.
func (a *Agent) Run(ctx context.Context) error {
	v, err := a.cfg.Runtime.Version(ctx)
	if err != nil {
		return fmt.Errorf("nodeagent: %s: ask the container runtime its version: %w", a.cfg.NodeName, err)
	}
	a.syncer.runtimeName = v.RuntimeName // before the first sync starts
	if a.probes != nil {
		defer a.probes.Stop()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if a.rec != nil {
		wg.Go(func() { _ = a.rec.Run(ctx) })
	}
	wg.Go(func() { a.status.Run(ctx) })
	wg.Go(func() {
		if a.cfg.PodsAfter != nil {
			select {
			case <-a.cfg.PodsAfter:
			case <-ctx.Done():
				return
			}
		}
		a.workers.Run(ctx)
	})
	if a.cfg.PodManifestPath != "" {
		// Static pods do not wait for the API: read them before anything
		// else, so that the relist never takes their containers for orphans.
		src, err := staticpods.New(staticpods.Config{Dir: a.cfg.PodManifestPath, NodeName: a.cfg.NodeName,
			Logger: a.log, Clock: a.cfg.Clock, Rescan: a.cfg.StaticPodRescan,
			OnError: a.node.badManifestEvent})
		if err != nil {
			return fmt.Errorf("nodeagent: %s: %w", a.cfg.NodeName, err)
		}
		first := make(chan struct{})
		var once sync.Once
		wg.Go(func() {
			_ = src.Run(ctx, func(pods []*corev1.Pod) {
				a.pods.SetStaticPods(pods)
				once.Do(func() { close(first) })
			})
		})
		select {
		case <-first:
		case <-ctx.Done():
			return nil
		}
	}
	wg.Go(func() { a.pleg.run(ctx) })
	if !a.cfg.NoLocalVolumeCleanup {
		src, err := localpv.APISource(a.cfg.Client)
		if err != nil {
			return fmt.Errorf("nodeagent: %s: %w", a.cfg.NodeName, err)
		}
		col := localpv.New(localpv.Config{Dir: a.syncer.vols.LocalVolumeDir(), Volumes: src, Deletions: src,
			InUse: a.syncer.vols.ClaimedPaths, Clock: a.cfg.Clock, Logger: a.log})
		wg.Go(func() { _ = col.Run(ctx) })
	}
	wg.Go(func() {
		if err := a.node.registerUntilDone(ctx, v); err != nil {
			return // ctx ended
		}
		var inner sync.WaitGroup
		inner.Go(func() { _ = a.source.WatchPods(ctx, a.cfg.NodeName, a.pods) })
		a.node.heartbeatLoop(ctx)
		inner.Wait()
	})
	<-ctx.Done()
	return nil
}
