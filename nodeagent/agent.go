package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent/probe"
	"github.com/bosun-dev/bosun/nodeagent/proxy"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/staticpods"
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
	// DefaultRootDir holds the pods' directories (volumes).
	DefaultRootDir = "/var/lib/bosun/agent"
	// LeaseNamespace holds the nodes' heartbeat Leases.
	LeaseNamespace = "kube-node-lease"
)

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
	// Workers is how many pods are synced at once; default 4.
	Workers int
	// RelistInterval is how often the runtime's state is listed to notice
	// exits and orphans; default 1s.
	RelistInterval time.Duration
	// DrainDelay is how long the containers of a pod deleted from the API
	// keep running before they are stopped, so that Endpoints and every
	// node's Service rules stop sending it traffic first. (bosun deletes
	// pods at once, without Kubernetes' terminating phase; this plays the
	// part of a preStop sleep.) 0 stops them at once.
	DrainDelay time.Duration
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
	// ServiceEnv computes the service environment variables of a pod
	// (FOO_SERVICE_HOST, ...) from the services that exist when one of its
	// containers is created (listed through Client, a list serving the pod
	// starts of one second), for pods whose enableServiceLinks is not false.
	// Default proxy.ServiceEnv; a func returning nil turns them off.
	ServiceEnv func(services []*corev1.Service, namespace string) []corev1.EnvVar
}

// Agent is a node agent: it registers its Node, heartbeats, and runs the
// pods bound to it on its Runtime. Create it with New, then Run it.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	clk    clock.WithTicker
	rt     runtime.Runtime
	c      *client.Client
	pods   PodSource
	prober Prober
	queue  workqueue.TypedRateLimitingInterface[string]
	back   *backoffs
	hostIP string
	kick   chan struct{}
	probes *probe.Manager // nil unless RunProbes

	mu          sync.Mutex
	cache       map[string]*corev1.Pod // by UID
	gone        map[string]*corev1.Pod // deleted pods not yet torn down, by UID
	goneAt      map[string]time.Time   // when the agent saw each of them go
	synced      bool
	podCIDR     string
	runtimeName string
	node        *corev1.Node           // as last read or written
	static      map[string]*corev1.Pod // static pods by UID, with the status last computed
	staticGone  map[string]*corev1.Pod // static pods removed, not yet torn down, by UID
	mirrors     map[string]*corev1.Pod // mirror pods in the API by namespace/name

	svcMu   sync.Mutex
	svcList []*corev1.Service // services listed last, at svcAt
	svcAt   time.Time

	plegState   map[string]string // relist fingerprints by pod UID; relist goroutine only
	dirsChecked bool              // pod directories of unknown pods were looked for
}

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
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.StatusReportInterval <= 0 {
		cfg.StatusReportInterval = DefaultStatusReportInterval
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.RelistInterval <= 0 {
		cfg.RelistInterval = DefaultRelistInterval
	}
	if cfg.Backoff.Initial <= 0 {
		cfg.Backoff.Initial = DefaultBackoffInitial
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = DefaultBackoffMax
	}
	if cfg.Backoff.Reset <= 0 {
		cfg.Backoff.Reset = DefaultBackoffReset
	}
	if cfg.RootDir == "" {
		cfg.RootDir = DefaultRootDir
	}
	if cfg.ServiceEnv == nil {
		cfg.ServiceEnv = proxy.ServiceEnv
	}
	if cfg.StaticPodRescan <= 0 {
		cfg.StaticPodRescan = staticpods.DefaultRescan
	}
	capacity := corev1.ResourceList{}
	for k, v := range cfg.Capacity {
		capacity[k] = v.DeepCopy()
	}
	if _, ok := capacity[corev1.ResourcePods]; !ok {
		capacity[corev1.ResourcePods] = *resource.NewQuantity(DefaultMaxPods, resource.DecimalSI)
	}
	cfg.Capacity = capacity
	log := cfg.Logger.With("node", cfg.NodeName)
	a := &Agent{
		cfg:        cfg,
		log:        log,
		clk:        cfg.Clock,
		rt:         cfg.Runtime,
		c:          cfg.Client,
		pods:       cfg.Pods,
		prober:     cfg.Prober,
		back:       newBackoffs(cfg.Backoff, cfg.Clock),
		kick:       make(chan struct{}, 1),
		cache:      map[string]*corev1.Pod{},
		gone:       map[string]*corev1.Pod{},
		goneAt:     map[string]time.Time{},
		plegState:  map[string]string{},
		static:     map[string]*corev1.Pod{},
		staticGone: map[string]*corev1.Pod{},
		mirrors:    map[string]*corev1.Pod{},
	}
	if a.pods == nil {
		a.pods = APIPodSource{Client: cfg.Client, Logger: log}
	}
	if a.prober == nil && cfg.RunProbes {
		pc := probe.Config{Clock: cfg.Clock, Logger: log, Dial: cfg.ProbeDial, OnChange: a.Resync}
		if ex, ok := cfg.Runtime.(probe.Execer); ok {
			pc.Execer = ex
		}
		a.probes = probe.NewManager(pc)
		a.prober = managerProber{a.probes}
	}
	if a.prober == nil {
		a.prober = RunningIsReady{}
	}
	a.hostIP = hostIP(cfg.Addresses)
	return a, nil
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
// whose result changed calls it). It does nothing before Run.
func (a *Agent) Resync(podUID string) {
	if q := a.workQueue(); q != nil {
		q.Add(podUID)
	}
}

func (a *Agent) workQueue() workqueue.TypedRateLimitingInterface[string] {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.queue
}

// Run runs the static pods (if any) at once, registers the Node
// (retrying until it succeeds), then heartbeats and runs the node's pods
// from the API until ctx ends. It returns nil after ctx ends, and an error
// only when the runtime cannot be reached at start.
func (a *Agent) Run(ctx context.Context) error {
	v, err := a.rt.Version(ctx)
	if err != nil {
		return fmt.Errorf("nodeagent: %s: ask the container runtime its version: %w", a.cfg.NodeName, err)
	}
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, time.Minute),
		workqueue.TypedRateLimitingQueueConfig[string]{Clock: a.clk})
	a.mu.Lock()
	a.runtimeName = v.RuntimeName
	a.queue = queue
	a.mu.Unlock()
	defer queue.ShutDown()
	if a.probes != nil {
		defer a.probes.Stop()
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	if a.cfg.PodManifestPath != "" {
		// Static pods do not wait for the API: read them before anything
		// else, so that the relist never takes their containers for orphans.
		src, err := staticpods.New(staticpods.Config{Dir: a.cfg.PodManifestPath, NodeName: a.cfg.NodeName,
			Logger: a.log, Clock: a.clk, Rescan: a.cfg.StaticPodRescan,
			OnError: func(file string, err error) { a.badManifestEvent(ctx, file, err) }})
		if err != nil {
			return fmt.Errorf("nodeagent: %s: %w", a.cfg.NodeName, err)
		}
		first := make(chan struct{})
		var once sync.Once
		wg.Go(func() {
			_ = src.Run(ctx, func(pods []*corev1.Pod) {
				a.setStaticPods(pods)
				once.Do(func() { close(first) })
			})
		})
		select {
		case <-first:
		case <-ctx.Done():
			return nil
		}
	}
	wg.Go(func() { a.relistLoop(ctx) })
	for range a.cfg.Workers {
		wg.Go(func() { a.worker(ctx, queue) })
	}
	wg.Go(func() {
		if err := a.registerUntilDone(ctx, v); err != nil {
			return // ctx ended
		}
		var inner sync.WaitGroup
		inner.Go(func() {
			_ = a.pods.WatchPods(ctx, a.cfg.NodeName, (*podHandler)(a))
		})
		a.heartbeatLoop(ctx)
		inner.Wait()
	})
	<-ctx.Done()
	queue.ShutDown()
	return nil
}

func (a *Agent) worker(ctx context.Context, q workqueue.TypedRateLimitingInterface[string]) {
	for {
		uid, shutdown := q.Get()
		if shutdown {
			return
		}
		after, err := a.syncPod(ctx, uid)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			a.log.Warn("pod sync failed; retrying", "podUID", uid, "error", err)
			q.AddRateLimited(uid)
			if after > 0 { // a restart back-off ends before the retry may
				q.AddAfter(uid, after)
			}
		default:
			q.Forget(uid)
			if after > 0 {
				q.AddAfter(uid, after)
			}
		}
		q.Done(uid)
	}
}

// podHandler is the Agent as the PodHandler of its pod source.
type podHandler Agent

func (h *podHandler) SetPods(pods []*corev1.Pod) {
	a := (*Agent)(h)
	a.mu.Lock()
	fresh := make(map[string]*corev1.Pod, len(pods))
	mirrors := map[string]*corev1.Pod{}
	for _, p := range pods {
		if staticpods.IsMirror(p) {
			mirrors[p.Namespace+"/"+p.Name] = p
			continue
		}
		fresh[string(p.UID)] = p
	}
	var keys []string
	for uid, old := range a.cache {
		if _, ok := fresh[uid]; !ok {
			a.gone[uid] = old
			keys = append(keys, uid)
		}
	}
	for uid, p := range fresh {
		if old, ok := a.cache[uid]; ok && !newerRV(p.ResourceVersion, old.ResourceVersion) {
			fresh[uid] = old // keep what a status write returned
		}
		delete(a.gone, uid)
		keys = append(keys, uid)
	}
	a.cache = fresh
	for key := range a.mirrors {
		if _, ok := mirrors[key]; !ok {
			keys = append(keys, mirrorKeyPrefix+key)
		}
	}
	for key, m := range mirrors {
		if old, ok := a.mirrors[key]; ok && old.UID == m.UID && !newerRV(m.ResourceVersion, old.ResourceVersion) {
			mirrors[key] = old
		}
		keys = append(keys, mirrorKeyPrefix+key)
	}
	a.mirrors = mirrors
	for uid := range a.static { // mirrors can be written now
		keys = append(keys, uid)
	}
	first := !a.synced
	a.synced = true
	q := a.queue
	a.mu.Unlock()
	for _, k := range keys {
		q.Add(k)
	}
	if first {
		a.log.Info("pods listed", "pods", len(pods))
		select { // look for orphans now
		case a.kick <- struct{}{}:
		default:
		}
	}
}

func (h *podHandler) UpsertPod(p *corev1.Pod) {
	a := (*Agent)(h)
	if staticpods.IsMirror(p) {
		a.mirrorChanged(p, false)
		return
	}
	uid := string(p.UID)
	a.mu.Lock()
	if old, ok := a.cache[uid]; !ok || newerRV(p.ResourceVersion, old.ResourceVersion) {
		a.cache[uid] = p
	}
	delete(a.gone, uid)
	q := a.queue
	a.mu.Unlock()
	q.Add(uid)
}

func (h *podHandler) DeletePod(p *corev1.Pod) {
	a := (*Agent)(h)
	if staticpods.IsMirror(p) {
		a.mirrorChanged(p, true)
		return
	}
	uid := string(p.UID)
	a.mu.Lock()
	delete(a.cache, uid)
	a.gone[uid] = p
	q := a.queue
	a.mu.Unlock()
	q.Add(uid)
}

// storeReturned puts a pod the API returned after a status write into the
// cache, if it is newer than what the cache holds.
func (a *Agent) storeReturned(p *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.cache[string(p.UID)]; ok && newerRV(p.ResourceVersion, old.ResourceVersion) {
		a.cache[string(p.UID)] = p
	}
}
