package routes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Defaults of Config.
const (
	// DefaultResyncPeriod is how often the routes and the masquerade rule
	// are checked against the Node list even when no Node changed.
	DefaultResyncPeriod = 30 * time.Second
	// DefaultRetryInitial and DefaultRetryMax bound the back-off after a
	// failed sync.
	DefaultRetryInitial = 500 * time.Millisecond
	DefaultRetryMax     = 30 * time.Second
)

// Route is one host-gw route: the pod CIDR of another node, via that
// node's InternalIP.
type Route struct {
	// Dst is the other node's pod CIDR.
	Dst netip.Prefix
	// Via is the other node's InternalIP (the next hop, on this node's L2
	// segment).
	Via netip.Addr
	// Node names the Node the route is for (informational: the kernel does
	// not store it, so routes listed from a Table have it empty).
	Node string
}

func (r Route) String() string { return r.Dst.String() + " via " + r.Via.String() }

// Table is the part of the node's routing table the Controller owns: the
// routes that carry its mark (NetlinkTable marks them with a routing
// protocol number). A Table never lists, replaces or deletes routes
// without the mark. Calls do not block for long (one netlink request).
type Table interface {
	// List returns every marked route.
	List() ([]Route, error)
	// Replace adds r with the mark, or replaces the route to r.Dst. It
	// fails wrapping syscall.ENETUNREACH when r.Via is not on a directly
	// connected network.
	Replace(r Route) error
	// Delete removes the marked route to r.Dst; a route already gone is
	// not an error.
	Delete(r Route) error
}

// Masquerader keeps the node's one masquerade rule: traffic from the node's
// pod CIDR to destinations outside the cluster CIDR leaves with the node's
// address; pod-to-pod traffic keeps its source.
type Masquerader interface {
	// Ensure makes the rule exactly "from podCIDR, not to clusterCIDR:
	// masquerade", repairing or replacing whatever differs. It is
	// idempotent and cheap when nothing changed.
	Ensure(podCIDR, clusterCIDR netip.Prefix) error
}

// Config configures a Controller. NodeName and Table are required, and
// Client unless Nodes is set.
type Config struct {
	// NodeName is this node: its own pod CIDR gets no route (it is on the
	// node's bridge) and is what the masquerade rule matches.
	NodeName string
	// NodeIP is this node's address; Nodes with this InternalIP (e.g. a
	// stale Node of the same machine under another name) get no route.
	// Default: the InternalIP of the Node named NodeName.
	NodeIP netip.Addr
	// Client lists and watches Nodes (an informer of package client/cache).
	Client *client.Client
	// Nodes, when set, is used instead of an informer over Client (tests).
	Nodes NodeSource
	// Table is the routing table to program (NetlinkTable in production).
	Table Table
	// Masquerade, when set, keeps the masquerade rule for this node's pod
	// CIDR; ClusterCIDR is then required.
	Masquerade Masquerader
	// ClusterCIDR is the cluster's pod range (every node's pod CIDR is
	// inside it), e.g. "10.244.0.0/16".
	ClusterCIDR string
	// ResyncPeriod is how often everything is checked even without Node
	// changes (routes deleted by hand come back); default 30s.
	ResyncPeriod time.Duration
	// RetryInitial and RetryMax bound the back-off after a failed sync;
	// default 500ms and 30s.
	RetryInitial, RetryMax time.Duration
	// Logger receives a line per route added, replaced or removed; nil
	// discards.
	Logger *slog.Logger
	// Clock drives resyncs and retries; default the real clock.
	Clock clock.WithTicker
}

// NodeSource supplies the Nodes the Controller routes to.
type NodeSource interface {
	// Run keeps the source current until ctx ends and returns nil then. It
	// calls notify, which must not block, after every change and once the
	// first list is complete.
	Run(ctx context.Context, notify func()) error
	// Synced reports whether the Nodes were listed once: before that, a sync
	// would remove the route of every node not listed yet.
	Synced() bool
	// Nodes returns the current Nodes; they are shared and must not be
	// changed.
	Nodes() []*corev1.Node
}

// ErrNotReady is wrapped by NetworkReady while the routes are not (yet)
// programmed for the current Node list.
var ErrNotReady = errors.New("routes: not ready")

// Controller keeps the host-gw routes and the masquerade rule in step with
// the Node list. Create it with New, then Run it.
type Controller struct {
	cfg         Config
	clusterCIDR netip.Prefix
	nodes       NodeSource
	log         *slog.Logger
	clk         clock.WithTicker
	kick        chan struct{}

	mu sync.Mutex
	// done is what the last successful sync programmed: this node's pod
	// CIDRs and the routes (nil before the first success).
	done    *programmed
	lastErr error  // the last sync's error, nil after a success
	masqFor string // the pod CIDR the masquerade rule was last ensured for
}

// programmed is the outcome of a sync: what the Node list asked for.
type programmed struct {
	own  []netip.Prefix
	want map[netip.Prefix]Route
}

// same reports whether p asks for exactly what own and want do.
func (p *programmed) same(own []netip.Prefix, want map[netip.Prefix]Route) bool {
	if len(p.own) != len(own) || len(p.want) != len(want) {
		return false
	}
	for i := range own {
		if p.own[i] != own[i] {
			return false
		}
	}
	for d, r := range want {
		if q, ok := p.want[d]; !ok || q.Via != r.Via {
			return false
		}
	}
	return true
}

// New checks cfg and returns a Controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.NodeName == "":
		return nil, errors.New("routes: config: the node name is required")
	case cfg.Table == nil:
		return nil, errors.New("routes: config: a route table is required")
	case cfg.Client == nil && cfg.Nodes == nil:
		return nil, errors.New("routes: config: a client of the API (or a node source) is required")
	}
	c := &Controller{cfg: cfg, kick: make(chan struct{}, 1)}
	if cfg.Masquerade != nil || cfg.ClusterCIDR != "" {
		p, err := netip.ParsePrefix(cfg.ClusterCIDR)
		if err != nil {
			return nil, fmt.Errorf("routes: config: cluster CIDR %q (required with masquerading): %w", cfg.ClusterCIDR, err)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("routes: config: cluster CIDR %s: host bits are set (did you mean %s?)", p, p.Masked())
		}
		c.clusterCIDR = p
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.ResyncPeriod, DefaultResyncPeriod)
	defaults.Positive(&cfg.RetryInitial, DefaultRetryInitial)
	defaults.Positive(&cfg.RetryMax, DefaultRetryMax)
	c.cfg = cfg
	c.log = cfg.Logger.With("component", "routes")
	c.clk = cfg.Clock
	c.nodes = cfg.Nodes
	if c.nodes == nil {
		c.nodes = NewAPINodes(cfg.Client, c.log)
	}
	return c, nil
}

// NetworkReady returns nil when the routes are programmed for the current
// Node list: the Nodes were listed, this node has a pod CIDR, and the last
// successful sync programmed exactly the routes (and the masquerade rule)
// the current Node list asks for. Otherwise it returns an error wrapping
// ErrNotReady that says what is missing. Node changes that change no route
// (status heartbeats) keep it ready. It never blocks for long: the node
// agent calls it for its NetworkUnavailable and Ready conditions.
func (c *Controller) NetworkReady() error {
	if !c.nodes.Synced() {
		return fmt.Errorf("%w: the Node list has not been read yet", ErrNotReady)
	}
	own, want := Desired(c.cfg.NodeName, c.cfg.NodeIP, c.nodes.Nodes(), nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case len(own) == 0:
		return fmt.Errorf("%w: node %s has no pod CIDR yet", ErrNotReady, c.cfg.NodeName)
	case c.lastErr != nil:
		return fmt.Errorf("%w: programming the routes failed: %v", ErrNotReady, c.lastErr)
	case c.done == nil || !c.done.same(own, want):
		return fmt.Errorf("%w: the routes for the current Node list are not programmed yet", ErrNotReady)
	}
	return nil
}

func (c *Controller) notify() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Run watches the Nodes and keeps the routes in step until ctx ends: a sync
// after every change (coalesced), a full check every ResyncPeriod, and
// retries with back-off after a failure. It returns nil after ctx ends.
// Routes stay in place when Run returns (pods keep their network across an
// agent restart); Cleanup removes them.
func (c *Controller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { _ = c.nodes.Run(ctx, c.notify) })
	resync := c.clk.NewTicker(c.cfg.ResyncPeriod)
	defer resync.Stop()
	var retryC <-chan time.Time
	var retry clock.Timer
	backoff := c.cfg.RetryInitial
	for {
		full := false
		select {
		case <-ctx.Done():
			if retry != nil {
				retry.Stop()
			}
			return nil
		case <-c.kick:
		case <-resync.C():
			full = true
		case <-retryC:
			full = true
		}
		if !c.nodes.Synced() {
			continue // the first list's notification comes
		}
		if retry != nil {
			retry.Stop()
			retry, retryC = nil, nil
		}
		if err := c.Sync(full); err != nil {
			c.log.Warn("programming the routes to the other nodes failed; retrying", "error", err, "retryIn", backoff)
			retry = c.clk.NewTimer(backoff)
			retryC = retry.C()
			backoff = min(2*backoff, c.cfg.RetryMax)
			continue
		}
		backoff = c.cfg.RetryInitial
	}
}

// Sync converges the table (and the masquerade rule) on the current Node
// list once: it lists the marked routes, adds or replaces the missing and
// wrong ones, and deletes those no Node wants. With full set, the
// masquerade rule is checked even if this node's pod CIDR did not change.
// Routes whose next hop is not on a directly connected network are logged
// and skipped (host-gw needs one L2 segment); any other failure is returned
// after trying every route. Run calls it; it is exported for tests.
func (c *Controller) Sync(full bool) error {
	self, want := Desired(c.cfg.NodeName, c.cfg.NodeIP, c.nodes.Nodes(), c.log)
	err := c.sync(full, self, want)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = err
	if err == nil {
		c.done = &programmed{own: self, want: want}
	}
	return err
}

func (c *Controller) sync(full bool, self []netip.Prefix, want map[netip.Prefix]Route) error {
	have, err := c.cfg.Table.List()
	if err != nil {
		return fmt.Errorf("routes: list bosun's routes: %w", err)
	}
	var errs []error
	haveBy := make(map[netip.Prefix]Route, len(have))
	for _, r := range have {
		if w, ok := want[r.Dst]; ok && w.Via == r.Via {
			haveBy[r.Dst] = r
			continue
		}
		if _, ok := want[r.Dst]; ok {
			continue // replaced below
		}
		if err := c.cfg.Table.Delete(r); err != nil {
			errs = append(errs, fmt.Errorf("routes: delete %s: %w", r, err))
			continue
		}
		c.log.Info("route removed: no Node has this pod CIDR any more", "route", r.String())
	}
	dsts := make([]netip.Prefix, 0, len(want))
	for d := range want {
		dsts = append(dsts, d)
	}
	sort.Slice(dsts, func(i, j int) bool { return dsts[i].String() < dsts[j].String() })
	for _, d := range dsts {
		w := want[d]
		if _, ok := haveBy[d]; ok {
			continue
		}
		err := c.cfg.Table.Replace(w)
		switch {
		case errors.Is(err, syscall.ENETUNREACH):
			c.log.Warn("cannot route to a node's pods: its address is not on a network this node is directly connected to (host-gw needs every node on one L2 segment)",
				"node", w.Node, "route", w.String())
		case err != nil:
			errs = append(errs, fmt.Errorf("routes: node %s: add %s: %w", w.Node, w, err))
		default:
			c.log.Info("route programmed", "node", w.Node, "route", w.String())
		}
	}

	podCIDR := ""
	if len(self) > 0 {
		podCIDR = self[0].String()
	}
	c.mu.Lock()
	masqFor := c.masqFor
	c.mu.Unlock()
	if c.cfg.Masquerade != nil && podCIDR != "" && (full || masqFor != podCIDR) {
		if err := c.cfg.Masquerade.Ensure(self[0], c.clusterCIDR); err != nil {
			errs = append(errs, fmt.Errorf("routes: masquerade rule for %s: %w", podCIDR, err))
			podCIDR = ""
		}
		c.mu.Lock()
		c.masqFor = podCIDR
		c.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Desired computes the routes a node named self (with address selfIP, if
// valid) wants from the Node list: for every other Node, each of its pod
// CIDRs (spec.podCIDRs, else spec.podCIDR) via its InternalIP of the same
// family. Nodes without a pod CIDR or an InternalIP get none, nor do Nodes
// whose InternalIP is selfIP. It also returns self's own pod CIDRs. Two
// Nodes claiming one CIDR (which the control plane never assigns): the
// first by name wins, and log says so.
func Desired(self string, selfIP netip.Addr, nodes []*corev1.Node, log *slog.Logger) ([]netip.Prefix, map[netip.Prefix]Route) {
	defaults.Logger(&log)
	sorted := append([]*corev1.Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var own []netip.Prefix
	for _, n := range sorted {
		if n.Name == self {
			own = PodCIDRs(n)
			if !selfIP.IsValid() {
				selfIP, _ = internalIP(n, true)
			}
		}
	}
	want := map[netip.Prefix]Route{}
	for _, n := range sorted {
		if n.Name == self {
			continue
		}
		for _, cidr := range PodCIDRs(n) {
			via, ok := internalIP(n, cidr.Addr().Is4())
			if !ok || via == selfIP {
				continue
			}
			if overlapsAny(cidr, own) {
				log.Warn("a node's pod CIDR overlaps this node's: no route", "node", n.Name, "podCIDR", cidr.String())
				continue
			}
			if prev, dup := want[cidr]; dup {
				log.Warn("two nodes claim one pod CIDR: routing it to the first by name", "podCIDR", cidr.String(), "routedTo", prev.Node, "ignored", n.Name)
				continue
			}
			want[cidr] = Route{Dst: cidr, Via: via, Node: n.Name}
		}
	}
	return own, want
}

func overlapsAny(p netip.Prefix, list []netip.Prefix) bool {
	for _, q := range list {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

// PodCIDRs returns the Node's valid pod CIDRs (spec.podCIDRs, else
// spec.podCIDR), masked.
func PodCIDRs(n *corev1.Node) []netip.Prefix {
	list := n.Spec.PodCIDRs
	if len(list) == 0 && n.Spec.PodCIDR != "" {
		list = []string{n.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// internalIP returns the Node's first InternalIP of the family (IPv4 when
// v4).
func internalIP(n *corev1.Node, v4 bool) (netip.Addr, bool) {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() == v4 {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// APINodes is the NodeSource of a node agent: an informer (package
// client/cache) listing and watching Nodes through bosun's API.
type APINodes struct {
	inf *cache.Informer
}

// NewAPINodes returns an APINodes reading through c; logger may be nil.
func NewAPINodes(c *client.Client, logger *slog.Logger) *APINodes {
	r, ok := api.Lookup("nodes")
	if !ok {
		panic("routes: the API has no resource nodes")
	}
	return &APINodes{inf: cache.NewInformer(client.ListWatch{Client: c, Resource: r}, r, logger)}
}

// Run implements NodeSource; run it once.
func (a *APINodes) Run(ctx context.Context, notify func()) error {
	a.inf.AddHandler(cache.Handler{
		OnAdd:    func(api.Object) { notify() },
		OnUpdate: func(_, _ api.Object) { notify() },
		OnDelete: func(api.Object) { notify() },
	})
	var wg sync.WaitGroup
	wg.Go(func() {
		if a.inf.WaitForSync(ctx) == nil {
			notify() // an empty list has no change to notify
		}
	})
	err := a.inf.Run(ctx)
	wg.Wait()
	return err
}

// Synced implements NodeSource.
func (a *APINodes) Synced() bool { return a.inf.HasSynced() }

// Nodes implements NodeSource from the informer's cache.
func (a *APINodes) Nodes() []*corev1.Node {
	objs := a.inf.List("", nil)
	out := make([]*corev1.Node, 0, len(objs))
	for _, o := range objs {
		if n, ok := o.(*corev1.Node); ok {
			out = append(out, n)
		}
	}
	return out
}

// Protocol is the routing protocol number (rtm_protocol) that marks bosun's
// routes; ip route prints it as "proto 211". The numbers up to 4 are the
// kernel's and boot's, and the well-known daemons use 8-192 sparsely (bird
// 12, zebra 11, bgp 186, ...); 211 is listed by none.
const Protocol = 211

// TableNAT and Chain are where the masquerade rule lives: Chain in the nat
// table, jumped to from POSTROUTING.
const (
	TableNAT = "nat"
	Chain    = "BOSUNNET-POSTROUTING"
)
