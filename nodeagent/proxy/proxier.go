package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/knftables"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/metrics"
)

// IPTables is what the Proxier needs from iptables (ModeIPTables). The real twin is Exec;
// tests may capture the restore input instead.
//
// Methods return an error naming the table and chain when iptables refuses;
// none of them touch chains other than the ones they name.
type IPTables interface {
	// Restore feeds data (one table, "*table ... COMMIT") to
	// "iptables-restore --noflush": chains it declares are flushed and
	// rewritten, the others are left alone. It blocks until the command ends.
	Restore(ctx context.Context, table string, data []byte) error
	// EnsureChain creates chain in table unless it exists.
	EnsureChain(table, chain string) error
	// EnsureJump inserts rule at the head of the built-in chain unless an
	// identical rule exists.
	EnsureJump(table, chain string, rule ...string) error
	// DeleteJump deletes rule from chain if it is there.
	DeleteJump(table, chain string, rule ...string) error
	// ListChains returns the names of every chain of table.
	ListChains(table string) ([]string, error)
	// DeleteChain flushes and deletes chain if it exists.
	DeleteChain(table, chain string) error
}

// Defaults of Config.
const (
	DefaultMinSyncPeriod = 100 * time.Millisecond
	DefaultSyncPeriod    = 30 * time.Second
)

// retryPeriod is how long the Proxier waits before trying a failed sync again.
const retryPeriod = time.Second

// Config configures a Proxier.
type Config struct {
	// Source supplies Services and Endpoints. When nil and Client is set,
	// an APISource on Client is used. A Proxier without either can only
	// Cleanup.
	Source Source
	// Client is bosun's API, used when Source is nil.
	Client *client.Client
	// Logger receives the proxier's logs; nil discards.
	Logger *slog.Logger
	// Clock drives the sync periods; default clock.RealClock{}.
	Clock clock.WithTicker
	// ClusterCIDR, when set (e.g. "10.244.0.0/16"), makes traffic to a
	// ClusterIP from outside the pod network masqueraded, as kube-proxy's
	// --cluster-cidr.
	ClusterCIDR string
	// ServiceCIDRs, when set (e.g. "10.96.0.0/16", the server's
	// --service-cidr), are the only ranges whose cluster IPs are
	// programmed: a Service with a cluster IP outside all of them gets no
	// rules in either mode (its node ports neither), with one log line
	// when it is first seen and the gauge
	// bosun_proxy_services_outside_service_cidr. Validation refuses such
	// Services; this is defence in depth. Empty: every cluster IP is
	// programmed.
	ServiceCIDRs []string
	// NodeIPs, when set, are the only addresses serving node ports;
	// otherwise every local address does.
	NodeIPs []net.IP
	// MinSyncPeriod is the least time between two syncs: changes arriving
	// meanwhile are applied together. Default DefaultMinSyncPeriod.
	MinSyncPeriod time.Duration
	// SyncPeriod is the period of full resyncs, which rewrite every chain
	// and the jump rules and so repair rules someone flushed. Default
	// DefaultSyncPeriod.
	SyncPeriod time.Duration
	// Mode picks how the kernel is programmed: ModeNFTables, ModeIPTables,
	// or "" for the default. The default is nftables when IPTables is nil
	// and nftables works here (the nft program runs and the kernel accepts
	// bosun's table), and iptables otherwise.
	Mode Mode
	// IPTables programs iptables' nat and filter tables: in ModeIPTables,
	// and in ModeNFTables to remove the iptables mode's rules. When neither
	// IPTables nor NFTables is set, both default to this network namespace
	// (NewExec("") and NewNFTables("")); when only one is set, the other
	// mode is left alone.
	IPTables IPTables
	// NFTables programs bosun's nftables table, family ip, named
	// NFTablesTable (as NewNFTables gives): in ModeNFTables, and in
	// ModeIPTables to remove the nftables mode's table. A knftables.Fake
	// works for tests.
	NFTables knftables.Interface
	// Metrics, when not nil, receives kube-proxy's sync metrics
	// (kubeproxy_sync_proxy_rules_duration_seconds,
	// kubeproxy_sync_proxy_rules_last_timestamp_seconds) and
	// bosun_proxy_syncs_total{mode,result}, and
	// bosun_proxy_services_outside_service_cidr.
	Metrics prometheus.Registerer
}

// proxyMetrics measure the Proxier's syncs.
type proxyMetrics struct {
	duration prometheus.Histogram
	last     prometheus.Gauge
	syncs    *prometheus.CounterVec
	outside  prometheus.Gauge
}

func newProxyMetrics(reg prometheus.Registerer) *proxyMetrics {
	m := &proxyMetrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kubeproxy_sync_proxy_rules_duration_seconds",
			Help: "How long a sync of the service rules took, in seconds.", Buckets: metrics.FastBuckets}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
			Help: "When the service rules were last synced successfully (Unix time)."}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bosun_proxy_syncs_total",
			Help: "Syncs of the service rules, by mode (nftables, iptables), kind (full, partial) and result (ok, error)."},
			[]string{"mode", "kind", "result"}),
		outside: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bosun_proxy_services_outside_service_cidr",
			Help: "Services given no rules because their cluster IP lies outside the service CIDR, as of the last sync."}),
	}
	reg.MustRegister(m.duration, m.last, m.syncs, m.outside)
	return m
}

// observe counts one sync.
func (m *proxyMetrics) observe(mode Mode, full bool, err error, d time.Duration, now time.Time) {
	if m == nil {
		return
	}
	kind, result := "partial", "ok"
	if full {
		kind = "full"
	}
	if err != nil {
		result = "error"
	}
	m.syncs.WithLabelValues(string(mode), kind, result).Inc()
	if err == nil {
		m.duration.Observe(d.Seconds())
		m.last.Set(float64(now.Unix()))
	}
}

// setOutside records the number of Services skipped for their cluster IP.
func (m *proxyMetrics) setOutside(n int) {
	if m != nil {
		m.outside.Set(float64(n))
	}
}

// Proxier programs the kernel (nftables or iptables) so that Services'
// cluster IPs and node ports reach their ready endpoints.
type Proxier struct {
	src     Source
	log     *slog.Logger
	clock   clock.WithTicker
	mode    Mode
	minSync time.Duration
	period  time.Duration
	trigger chan struct{}

	mu      sync.Mutex // serialises syncs and guards the backends' state
	backend backend    // programs the kernel in mode
	// others are the other mode's backends, whose rules the first
	// successful sync removes (othersCleaned then) and Cleanup too.
	others        []backend
	othersCleaned bool
	metrics       *proxyMetrics // nil without Config.Metrics
	opts          buildOptions  // what the backends were built with
	// outside maps the Services skipped for a cluster IP outside the
	// service CIDRs ("namespace/name") to that IP, so that each is logged
	// once, not every sync.
	outside map[string]string
}

// backend programs the kernel in one mode. Calls are serialised by the
// Proxier's mutex.
type backend interface {
	// sync programs the rules for svcs and eps, writing only what
	// changed since its last successful sync unless full is set (or its
	// state is unknown, after a failure).
	sync(ctx context.Context, svcs []*corev1.Service, eps []*corev1.Endpoints, full bool) error
	// cleanup removes all of this mode's rules.
	cleanup(ctx context.Context) error
}

// New returns a Proxier for cfg. It fails when ClusterCIDR or one of
// ServiceCIDRs cannot be parsed or the mode asked for cannot be used here.
func New(cfg Config) (*Proxier, error) {
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.MinSyncPeriod, DefaultMinSyncPeriod)
	defaults.Positive(&cfg.SyncPeriod, DefaultSyncPeriod)
	p := &Proxier{
		src:     cfg.Source,
		log:     cfg.Logger.With("component", "proxy"),
		clock:   cfg.Clock,
		minSync: cfg.MinSyncPeriod,
		period:  cfg.SyncPeriod,
		trigger: make(chan struct{}, 1),
	}
	if cfg.Metrics != nil {
		p.metrics = newProxyMetrics(cfg.Metrics)
	}
	if p.src == nil && cfg.Client != nil {
		p.src = NewAPISource(cfg.Client, cfg.Logger)
	}
	var opts buildOptions
	if cfg.ClusterCIDR != "" {
		_, n, err := net.ParseCIDR(cfg.ClusterCIDR)
		if err != nil {
			return nil, fmt.Errorf("proxy: cluster CIDR %q: %w", cfg.ClusterCIDR, err)
		}
		opts.clusterCIDR = n.String()
	}
	for _, c := range cfg.ServiceCIDRs {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("proxy: service CIDR %q: %w", c, err)
		}
		opts.serviceCIDRs = append(opts.serviceCIDRs, pfx.Masked())
	}
	p.opts = opts
	for _, ip := range cfg.NodeIPs {
		if ip4 := ip.To4(); ip4 != nil {
			opts.nodeIPs = append(opts.nodeIPs, ip4.String())
		}
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	ipt, nft, err := p.interfaces(cfg)
	if err != nil {
		return nil, err
	}
	var ib, nb backend
	if ipt != nil {
		ib = newIPTablesBackend(ipt, opts)
	}
	if nft != nil {
		nb = newNFTablesBackend(nft, opts)
	}
	switch p.mode {
	case ModeIPTables:
		p.backend = ib
		if nb != nil {
			p.others = append(p.others, nb)
		}
	case ModeNFTables:
		p.backend = nb
		if ib != nil {
			p.others = append(p.others, ib)
		}
	}
	return p, nil
}

// interfaces resolves cfg's mode into p.mode and returns what programs the
// kernel in each mode (nil for a mode that is not used).
func (p *Proxier) interfaces(cfg Config) (IPTables, knftables.Interface, error) {
	ipt, nft := cfg.IPTables, cfg.NFTables
	if ipt != nil || nft != nil {
		// Given explicitly (tests, or a caller with its own namespace):
		// use only what was given.
		switch {
		case cfg.Mode == ModeIPTables && ipt == nil:
			return nil, nil, errors.New("proxy: iptables mode needs Config.IPTables when Config.NFTables is set")
		case cfg.Mode == ModeNFTables && nft == nil:
			return nil, nil, errors.New("proxy: nftables mode needs Config.NFTables when Config.IPTables is set")
		case cfg.Mode == "" && nft != nil:
			p.mode = ModeNFTables
		case cfg.Mode == "":
			p.mode = ModeIPTables
		default:
			p.mode = cfg.Mode
		}
		return ipt, nft, nil
	}
	// This network namespace, with whatever works here.
	nft, nftErr := NewNFTables("")
	ipt, iptErr := defaultIPTables()
	switch cfg.Mode {
	case ModeNFTables:
		if nftErr != nil {
			return nil, nil, fmt.Errorf("proxy: nftables mode: %w", nftErr)
		}
	case ModeIPTables:
		if iptErr != nil {
			return nil, nil, fmt.Errorf("proxy: iptables mode: %w", iptErr)
		}
	case "":
		switch {
		case nftErr == nil:
			cfg.Mode = ModeNFTables
		case iptErr == nil:
			p.log.Info("nftables cannot be used here; using iptables mode", "err", nftErr)
			cfg.Mode = ModeIPTables
		default:
			return nil, nil, fmt.Errorf("proxy: neither nftables (%w) nor iptables (%w) can be used", nftErr, iptErr)
		}
	}
	p.mode = cfg.Mode
	if nftErr != nil {
		nft = nil
	}
	if iptErr != nil {
		ipt = nil
	}
	return ipt, nft, nil
}

// requestSync asks Run for a sync; it never blocks.
func (p *Proxier) requestSync() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// Run watches the source and keeps the rules current until ctx ends: a sync
// after each burst of changes (at most one per MinSyncPeriod), a full resync
// every SyncPeriod, and a retry a second after a failed sync. It returns nil
// when ctx ends. The rules stay in place when Run returns: Cleanup removes
// them.
func (p *Proxier) Run(ctx context.Context) error {
	if p.src == nil {
		return errors.New("proxy: Run needs Config.Source or Config.Client")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if err := p.src.Run(ctx, p.requestSync); err != nil {
			p.log.Error("service and endpoints source stopped", "err", err)
		}
	})

	resync := p.clock.NewTicker(p.period)
	defer resync.Stop()
	var retry <-chan time.Time
	var lastSync time.Time
	full := true // the first sync rewrites everything
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.trigger:
		case <-resync.C():
			full = true
		case <-retry:
			retry = nil
		}
		if !p.src.Synced() {
			continue // the source notifies again once it has listed
		}
		if wait := p.minSync - p.clock.Since(lastSync); wait > 0 {
			t := p.clock.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C():
			}
		}
		// Whatever arrived while waiting is covered by this sync.
		select {
		case <-p.trigger:
		default:
		}
		lastSync = p.clock.Now()
		var err error
		if full {
			err = p.Resync(ctx)
		} else {
			err = p.SyncOnce(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.log.Warn("service rules sync failed; retrying in a second", "mode", p.mode, "err", err)
			retry = p.clock.After(retryPeriod)
			continue
		}
		full = false
	}
}

// SyncOnce programs the source's current Services and Endpoints, writing
// only what changed since the last successful sync: in iptables mode, one
// iptables-restore --noflush per table that changed, rewriting only the
// chains whose rules differ and deleting the chains no longer wanted; in
// nftables mode, one nft transaction with the changed chains, map elements
// and sets. The first sync, and any sync after a failure, is a full one (see
// Resync).
func (p *Proxier) SyncOnce(ctx context.Context) error {
	return p.sync(ctx, false)
}

// Resync rewrites all of bosun's rules and deletes stale bosun chains found
// in the kernel (in iptables mode it also ensures the jump rules from the
// built-in chains), repairing whatever someone changed by hand. The first
// successful sync also removes the other mode's rules, so that switching
// modes leaves nothing behind.
func (p *Proxier) Resync(ctx context.Context) error {
	return p.sync(ctx, true)
}

// Mode returns the mode the Proxier programs the kernel in.
func (p *Proxier) Mode() Mode { return p.mode }

func (p *Proxier) sync(ctx context.Context, full bool) error {
	if p.src == nil {
		return errors.New("proxy: sync needs Config.Source or Config.Client")
	}
	start := p.clock.Now()
	svcs, eps := p.src.Snapshot()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.noteOutside(svcs)
	err := p.backend.sync(ctx, svcs, eps, full)
	p.metrics.observe(p.mode, full, err, p.clock.Since(start), p.clock.Now())
	if err != nil {
		return err
	}
	if !p.othersCleaned {
		var errs []error
		for _, o := range p.others {
			errs = append(errs, o.cleanup(ctx))
		}
		if err := errors.Join(errs...); err != nil {
			p.log.Warn("could not remove the other proxy mode's rules", "err", err)
		}
		p.othersCleaned = true
	}
	p.log.Debug("service rules synced", "mode", p.mode, "full", full, "services", len(svcs), "took", p.clock.Since(start))
	return nil
}

// noteOutside logs each Service newly found with a cluster IP outside the
// service CIDRs (the backends give it no rules) and sets the gauge. Called
// with p.mu held.
func (p *Proxier) noteOutside(svcs []*corev1.Service) {
	outside := p.opts.outsideServiceCIDRs(svcs)
	next := make(map[string]string, len(outside))
	for _, s := range outside {
		k, ip := s.Namespace+"/"+s.Name, s.Spec.ClusterIP
		next[k] = ip
		if p.outside[k] != ip {
			p.log.Warn("service not programmed: its cluster IP is outside the service CIDR; fix the Service's spec.clusterIP",
				"service", k, "clusterIP", ip, "serviceCIDRs", p.opts.serviceCIDRs)
		}
	}
	p.outside = next
	p.metrics.setOutside(len(outside))
}

// Cleanup removes bosun's rules of both modes, whatever their content: every
// bosun chain and jump rule in iptables' nat and filter tables, and
// nftables' table "ip bosun". It works without a Source (for `bosun agent
// --cleanup`) and leaves everybody else's rules alone.
func (p *Proxier) Cleanup(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, b := range append([]backend{p.backend}, p.others...) {
		errs = append(errs, b.cleanup(ctx))
	}
	return errors.Join(errs...)
}
