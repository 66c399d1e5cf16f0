package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// IPTables is what the Proxier needs from iptables. The real twin is Exec;
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
	// IPTables programs the tables; default NewExec("") (this network
	// namespace).
	IPTables IPTables
}

// Proxier programs iptables so that Services' cluster IPs and node ports
// reach their ready endpoints.
type Proxier struct {
	src     Source
	ipt     IPTables
	log     *slog.Logger
	clock   clock.WithTicker
	opts    buildOptions
	minSync time.Duration
	period  time.Duration
	trigger chan struct{}

	mu sync.Mutex // serialises syncs and guards last
	// last is, per table, chain -> rules as last written successfully; a
	// nil entry means the table's state is unknown and the next sync
	// rewrites it whole.
	last map[string]map[string]string
}

// New returns a Proxier for cfg. It fails when ClusterCIDR or IPTables
// cannot be used.
func New(cfg Config) (*Proxier, error) {
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.MinSyncPeriod, DefaultMinSyncPeriod)
	defaults.Positive(&cfg.SyncPeriod, DefaultSyncPeriod)
	p := &Proxier{
		src:     cfg.Source,
		ipt:     cfg.IPTables,
		log:     cfg.Logger.With("component", "proxy"),
		clock:   cfg.Clock,
		minSync: cfg.MinSyncPeriod,
		period:  cfg.SyncPeriod,
		trigger: make(chan struct{}, 1),
		last:    map[string]map[string]string{},
	}
	if p.src == nil && cfg.Client != nil {
		p.src = NewAPISource(cfg.Client, cfg.Logger)
	}
	if cfg.ClusterCIDR != "" {
		_, n, err := net.ParseCIDR(cfg.ClusterCIDR)
		if err != nil {
			return nil, fmt.Errorf("proxy: cluster CIDR %q: %w", cfg.ClusterCIDR, err)
		}
		p.opts.clusterCIDR = n.String()
	}
	for _, ip := range cfg.NodeIPs {
		if ip4 := ip.To4(); ip4 != nil {
			p.opts.nodeIPs = append(p.opts.nodeIPs, ip4.String())
		}
	}
	if p.ipt == nil {
		ipt, err := defaultIPTables()
		if err != nil {
			return nil, err
		}
		p.ipt = ipt
	}
	return p, nil
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
			p.log.Warn("iptables sync failed; retrying in a second", "err", err)
			retry = p.clock.After(retryPeriod)
			continue
		}
		full = false
	}
}

// SyncOnce writes the rules for the source's current Services and Endpoints:
// one iptables-restore --noflush per table that changed, rewriting only the
// chains whose rules differ from the last successful sync and deleting the
// chains no longer wanted. The first sync, and any sync after a failure, is
// a full one (see Resync).
func (p *Proxier) SyncOnce(ctx context.Context) error {
	return p.sync(ctx, false)
}

// Resync rewrites every bosun chain, deletes stale bosun chains found in the
// tables, and ensures the jump rules from the built-in chains, repairing
// whatever someone changed by hand.
func (p *Proxier) Resync(ctx context.Context) error {
	return p.sync(ctx, true)
}

func (p *Proxier) sync(ctx context.Context, full bool) error {
	if p.src == nil {
		return errors.New("proxy: sync needs Config.Source or Config.Client")
	}
	start := p.clock.Now()
	svcs, eps := p.src.Snapshot()
	rs := buildRules(svcs, eps, p.opts)

	p.mu.Lock()
	defer p.mu.Unlock()
	for _, table := range []string{TableNAT, TableFilter} {
		if p.last[table] == nil {
			full = true // state unknown: first sync, or after a failure
		}
	}
	var errs []error
	for _, table := range []string{TableNAT, TableFilter} {
		if err := p.syncTable(ctx, table, rs.tables[table], full); err != nil {
			errs = append(errs, err)
		}
	}
	if full || len(errs) > 0 {
		if err := p.ensureJumps(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p.log.Debug("iptables synced", "full", full, "services", len(svcs), "took", p.clock.Since(start))
	return nil
}

// syncTable writes one table; the caller holds p.mu.
func (p *Proxier) syncTable(ctx context.Context, table string, want *chainSet, full bool) error {
	last := p.last[table]
	var stale []string
	if full || last == nil {
		chains, err := p.ipt.ListChains(table)
		if err != nil {
			p.last[table] = nil
			return err
		}
		for _, c := range chains {
			if _, ok := want.rules[c]; !ok && isBosunChain(c) {
				stale = append(stale, c)
			}
		}
		last = nil
	} else {
		for c := range last {
			if _, ok := want.rules[c]; !ok {
				stale = append(stale, c)
			}
		}
	}
	sort.Strings(stale)
	data := restoreInput(table, want, last, stale)
	if data != nil {
		if err := p.ipt.Restore(ctx, table, data); err != nil {
			p.last[table] = nil
			return err
		}
	}
	p.last[table] = want.contents()
	return nil
}

// ensureJumps makes sure the built-in chains lead into bosun's chains.
func (p *Proxier) ensureJumps() error {
	var errs []error
	for _, t := range []string{TableNAT, TableFilter} {
		for _, c := range topChains[t] {
			if err := p.ipt.EnsureChain(t, c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, j := range jumpRules {
		if err := p.ipt.EnsureJump(j.table, j.chain, j.args...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Cleanup removes every bosun chain and every jump rule leading into them,
// from the nat and filter tables, whatever their content. It works without a
// Source (for `bosun agent --cleanup`) and leaves other chains alone.
func (p *Proxier) Cleanup(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, j := range jumpRules {
		if err := p.ipt.DeleteJump(j.table, j.chain, j.args...); err != nil {
			errs = append(errs, err)
		}
	}
	for _, table := range []string{TableNAT, TableFilter} {
		p.last[table] = nil
		chains, err := p.ipt.ListChains(table)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var ours []string
		for _, c := range chains {
			if isBosunChain(c) {
				ours = append(ours, c)
			}
		}
		sort.Strings(ours)
		if data := restoreInput(table, newChainSet(), nil, ours); data != nil {
			if err := p.ipt.Restore(ctx, table, data); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
