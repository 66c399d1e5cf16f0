package serviceip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"

	"k8s.io/client-go/util/workqueue"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Name is the controller's name in logs, its work queue and its Events.
const Name = "serviceip"

// DefaultServiceCIDR is the service CIDR when Config.ServiceCIDR is nil.
const DefaultServiceCIDR = "10.96.0.0/16"

// Reasons of the Warning Events the controller records on Services.
const (
	ReasonClusterIPConflict   = "ClusterIPAlreadyAllocated"
	ReasonClusterIPOutOfRange = "ClusterIPOutOfRange"
	ReasonClusterIPsExhausted = "ClusterIPsExhausted"
	ReasonNodePortConflict    = "NodePortAlreadyAllocated"
	ReasonNodePortOutOfRange  = "NodePortOutOfRange"
	ReasonNodePortsExhausted  = "NodePortsExhausted"
)

// Writer is how the controller writes Services: a compare-and-swap on
// resourceVersion (see package reconcile). *store.Store is a Writer.
type Writer = reconcile.Updater

// Config configures a Controller. Writer and Informers are required; the
// control plane passes its *store.Store as Writer.
type Config struct {
	// Writer writes the Services' allocations.
	Writer Writer
	// Recorder receives a Warning Event for each allocation refused; nil
	// records none.
	Recorder *events.Recorder
	// Informers supplies the Service cache.
	Informers *cache.Informers
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock drives the work queue's delays; default
	// clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many Services are reconciled at once; default
	// reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
	// ServiceCIDR is the IPv4 range cluster IPs come from (--service-cidr);
	// default DefaultServiceCIDR. Its first address after the network
	// address is reserved for a "kubernetes" Service.
	ServiceCIDR *net.IPNet
	// NodePortRange is the range node ports come from; default
	// DefaultNodePortRange.
	NodePortRange PortRange
}

// Controller allocates cluster IPs and node ports to Services.
type Controller struct {
	writer   Writer
	rec      *events.Recorder
	log      *slog.Logger
	clock    clock.WithTicker
	services *cache.Informer
	queue    *reconcile.Controller

	mu       sync.Mutex // guards alloc, waiting and reported
	alloc    *allocator
	waiting  map[string]bool   // keys that could not get what they asked for
	reported map[string]string // key+reason -> message last recorded
}

// New returns a Controller and registers its handler on the Service
// informer of cfg.Informers; call it before cfg.Informers.Start. It fails
// when the service CIDR or node port range cannot be used, and panics when
// cfg.Writer or cfg.Informers is nil (a wiring mistake).
func New(cfg Config) (*Controller, error) {
	if cfg.Writer == nil || cfg.Informers == nil {
		panic("serviceip: Config.Writer and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	if cfg.ServiceCIDR == nil {
		_, cfg.ServiceCIDR, _ = net.ParseCIDR(DefaultServiceCIDR)
	}
	if cfg.NodePortRange == (PortRange{}) {
		cfg.NodePortRange = DefaultNodePortRange
	}
	if r := cfg.NodePortRange; r.Min < 1 || r.Max > 65535 || r.Min > r.Max {
		return nil, fmt.Errorf("serviceip: node port range %s: want min-max within 1-65535", r)
	}
	ips, err := newIPRange(cfg.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	c := &Controller{
		writer:   cfg.Writer,
		rec:      cfg.Recorder,
		log:      cfg.Logger.With("controller", Name),
		clock:    cfg.Clock,
		services: cfg.Informers.ForKind("services"),
		alloc:    newAllocator(ips, cfg.NodePortRange),
		waiting:  map[string]bool{},
		reported: map[string]string{},
	}
	c.queue = reconcile.NewController(Name, c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.services.AddHandler(c.queue.EnqueueHandler())
	return c, nil
}

// Run waits for the Service cache, rebuilds the allocation state from the
// Services' specs (oldest Service first, so that of two claiming one address
// the older keeps it, across restarts too), then reconciles Services until
// ctx ends. It returns nil when ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.services) {
		return nil // ctx ended
	}
	c.rebuild()
	return c.queue.Run(ctx)
}

// Len returns how many Service keys wait in the work queue.
func (c *Controller) Len() int { return c.queue.Len() }

// rebuild claims, in creation order, every in-range cluster IP and node port
// already written in a Service.
func (c *Controller) rebuild() {
	var svcs []*corev1.Service
	for _, o := range c.services.List("", nil) {
		svcs = append(svcs, o.(*corev1.Service))
	}
	sort.Slice(svcs, func(i, j int) bool {
		a, b := svcs[i], svcs[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return reconcile.KeyOf(a) < reconcile.KeyOf(b)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range svcs {
		key := reconcile.KeyOf(s)
		if hasClusterIP(s) {
			if off, ok := c.alloc.ips.offset(net.ParseIP(s.Spec.ClusterIP)); ok {
				c.alloc.claimIP(key, off)
			}
		}
		if wantsNodePorts(s) {
			for _, p := range s.Spec.Ports {
				if p.NodePort != 0 && c.alloc.ports.Contains(p.NodePort) {
					c.alloc.claimPort(key, portKey{p.NodePort, protocol(p)}, portID(p))
				}
			}
		}
	}
	c.log.Info("allocation state rebuilt from services", "services", len(svcs),
		"clusterIPs", len(c.alloc.ipOwner), "nodePorts", len(c.alloc.portOwner))
}

func hasClusterIP(s *corev1.Service) bool {
	return s.Spec.Type != corev1.ServiceTypeExternalName && s.Spec.ClusterIP != "" && s.Spec.ClusterIP != corev1.ClusterIPNone
}

func wantsNodePorts(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer
}

func protocol(p corev1.ServicePort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}

// portID identifies a service port across edits: its number and protocol.
func portID(p corev1.ServicePort) string {
	return strconv.Itoa(int(p.Port)) + "/" + string(protocol(p))
}

// problem is something the controller could not give a Service.
type problem struct{ reason, message string }

// Reconcile gives the Service namespace/name (key) a cluster IP and node
// ports when its spec leaves them empty, claims the ones its spec names when
// they are in range and free, and releases what a deleted or changed Service
// no longer uses. It writes the Service only when its spec changes, with
// compare-and-swap; what it cannot honour is reported with a Warning Event
// and a log line and never written.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	o, ok := c.services.Get(ns, name)
	if !ok {
		c.mu.Lock()
		freed := c.alloc.releaseIP(key)
		freed = c.alloc.releasePortsExcept(key, nil) || freed
		delete(c.waiting, key)
		for k := range c.reported {
			if strings.HasPrefix(k, key+"\x00") {
				delete(c.reported, k)
			}
		}
		c.mu.Unlock()
		if freed {
			c.wakeWaiting()
		}
		return reconcile.Result{}, nil
	}
	cur := o.(*corev1.Service)
	if cur.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	next := cur.DeepCopy()

	c.mu.Lock()
	var problems []problem
	changed, freed := false, false
	switch {
	case next.Spec.ClusterIP == "" && next.Spec.Type != corev1.ServiceTypeExternalName:
		// allocated below
	case !hasClusterIP(next):
		freed = c.alloc.releaseIP(key)
	default:
		ip := net.ParseIP(next.Spec.ClusterIP)
		off, inRange := c.alloc.ips.offset(ip)
		if !inRange {
			freed = c.alloc.releaseIP(key)
			problems = append(problems, problem{ReasonClusterIPOutOfRange, fmt.Sprintf(
				"spec.clusterIP %s is not a usable address of the service CIDR %s; no cluster IP is allocated to this Service. "+
					"Pick an address inside the range, or leave spec.clusterIP empty to get one.", next.Spec.ClusterIP, c.alloc.ips.cidr)})
			break
		}
		prev, had := c.alloc.ipOf[key]
		owned, owner := c.alloc.claimIP(key, off)
		if !owned {
			freed = c.alloc.releaseIP(key)
			problems = append(problems, problem{ReasonClusterIPConflict, fmt.Sprintf(
				"spec.clusterIP %s is already allocated to Service %s; this Service gets no cluster IP of its own. "+
					"Pick another address, or leave spec.clusterIP empty to get one.", next.Spec.ClusterIP, owner)})
			break
		}
		freed = had && prev != off
		if len(next.Spec.ClusterIPs) == 0 || next.Spec.ClusterIPs[0] != next.Spec.ClusterIP {
			next.Spec.ClusterIPs = []string{next.Spec.ClusterIP}
			changed = true
		}
	}
	if next.Spec.ClusterIP == "" && next.Spec.Type != corev1.ServiceTypeExternalName {
		if off, ok := c.alloc.allocateIP(key); ok {
			ip := c.alloc.ips.ip(off).String()
			next.Spec.ClusterIP, next.Spec.ClusterIPs = ip, []string{ip}
			changed = true
		} else {
			problems = append(problems, problem{ReasonClusterIPsExhausted, fmt.Sprintf(
				"every address of the service CIDR %s is allocated; this Service gets no cluster IP. "+
					"Delete unused Services or widen --service-cidr.", c.alloc.ips.cidr)})
		}
	}

	keep := map[portKey]bool{}
	if wantsNodePorts(next) {
		// Ports the spec names first, so that an allocation never takes a
		// number another port of the same Service asks for.
		for i := range next.Spec.Ports {
			p := &next.Spec.Ports[i]
			if p.NodePort == 0 {
				continue
			}
			k := portKey{p.NodePort, protocol(*p)}
			if !c.alloc.ports.Contains(p.NodePort) {
				problems = append(problems, problem{ReasonNodePortOutOfRange, fmt.Sprintf(
					"spec.ports[%d].nodePort %d is outside the node port range %s; the port is not opened. "+
						"Pick a port in the range, or leave nodePort empty to get one.", i, p.NodePort, c.alloc.ports)})
				continue
			}
			if owned, owner := c.alloc.claimPort(key, k, portID(*p)); !owned {
				problems = append(problems, problem{ReasonNodePortConflict, fmt.Sprintf(
					"spec.ports[%d].nodePort %d/%s is already allocated to Service %s; this port is not opened for this Service. "+
						"Pick another port, or leave nodePort empty to get one.", i, p.NodePort, k.proto, owner)})
				continue
			}
			keep[k] = true
		}
		for i := range next.Spec.Ports {
			p := &next.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			np, ok := c.alloc.allocatePort(key, protocol(*p), portID(*p), keep)
			if !ok {
				problems = append(problems, problem{ReasonNodePortsExhausted, fmt.Sprintf(
					"every node port of the range %s is allocated; spec.ports[%d] gets none. Delete unused NodePort Services.", c.alloc.ports, i)})
				continue
			}
			p.NodePort = np
			keep[portKey{np, protocol(*p)}] = true
			changed = true
		}
	} else {
		// Kubernetes clears node ports when a Service stops being NodePort
		// or LoadBalancer.
		for i := range next.Spec.Ports {
			if next.Spec.Ports[i].NodePort != 0 {
				next.Spec.Ports[i].NodePort = 0
				changed = true
			}
		}
	}
	freed = c.alloc.releasePortsExcept(key, keep) || freed
	if len(problems) > 0 {
		c.waiting[key] = true
	} else {
		delete(c.waiting, key)
	}
	report := c.newProblems(key, problems)
	c.mu.Unlock()

	if freed {
		c.wakeWaiting()
	}
	for _, p := range report {
		c.log.Warn("service allocation refused: "+p.message, "service", key, "reason", p.reason)
		c.recordEvent(cur, p)
	}
	if !changed {
		return reconcile.Result{}, nil
	}
	if err := c.writer.Update(ctx, next); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return reconcile.Result{}, nil // deleted meanwhile; its delete event releases
		}
		// The allocation stays reserved for key and is reused on retry.
		return reconcile.Result{}, fmt.Errorf("serviceip: update %s: %w", key, err)
	}
	c.log.Debug("allocated", "service", key, "clusterIP", next.Spec.ClusterIP, "revision", next.ResourceVersion)
	return reconcile.Result{}, nil
}

// newProblems returns the problems not yet reported for key with the same
// message, and forgets reported problems that went away. Caller holds c.mu.
func (c *Controller) newProblems(key string, ps []problem) []problem {
	seen := map[string]bool{}
	var out []problem
	for _, p := range ps {
		k := key + "\x00" + p.reason + "\x00" + p.message
		seen[k] = true
		if _, done := c.reported[k]; !done {
			c.reported[k] = p.message
			out = append(out, p)
		}
	}
	for k := range c.reported {
		if strings.HasPrefix(k, key+"\x00") && !seen[k] {
			delete(c.reported, k)
		}
	}
	return out
}

// wakeWaiting enqueues every Service that could not get what it asked for:
// something was released and it may fit now.
func (c *Controller) wakeWaiting() {
	c.mu.Lock()
	keys := make([]string, 0, len(c.waiting))
	for k := range c.waiting {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		c.queue.Enqueue(k)
	}
}

// recordEvent records a Warning Event about svc.
func (c *Controller) recordEvent(svc *corev1.Service, p problem) {
	c.rec.Event(events.Ref(svc), corev1.EventTypeWarning, p.reason, p.message)
}
