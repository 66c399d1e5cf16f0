package proxy

import (
	"context"
	"errors"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// iptablesBackend programs the nat and filter tables (ModeIPTables).
type iptablesBackend struct {
	ipt  IPTables
	opts buildOptions
	// last is, per table, chain -> rules as last written successfully; a
	// nil entry means the table's state is unknown and the next sync
	// rewrites it whole. Guarded by the Proxier's mutex.
	last map[string]map[string]string
}

func newIPTablesBackend(ipt IPTables, opts buildOptions) *iptablesBackend {
	return &iptablesBackend{ipt: ipt, opts: opts, last: map[string]map[string]string{}}
}

func (b *iptablesBackend) sync(ctx context.Context, svcs []*corev1.Service, eps []*corev1.Endpoints, full bool) error {
	rs := buildRules(svcs, eps, b.opts)
	for _, table := range []string{TableNAT, TableFilter} {
		if b.last[table] == nil {
			full = true // state unknown: first sync, or after a failure
		}
	}
	var errs []error
	for _, table := range []string{TableNAT, TableFilter} {
		if err := b.syncTable(ctx, table, rs.tables[table], full); err != nil {
			errs = append(errs, err)
		}
	}
	if full || len(errs) > 0 {
		if err := b.ensureJumps(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncTable writes one table.
func (b *iptablesBackend) syncTable(ctx context.Context, table string, want *chainSet, full bool) error {
	last := b.last[table]
	var stale []string
	if full || last == nil {
		chains, err := b.ipt.ListChains(table)
		if err != nil {
			b.last[table] = nil
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
		if err := b.ipt.Restore(ctx, table, data); err != nil {
			b.last[table] = nil
			return err
		}
	}
	b.last[table] = want.contents()
	return nil
}

// ensureJumps makes sure the built-in chains lead into bosun's chains.
func (b *iptablesBackend) ensureJumps() error {
	var errs []error
	for _, t := range []string{TableNAT, TableFilter} {
		for _, c := range topChains[t] {
			if err := b.ipt.EnsureChain(t, c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, j := range jumpRules {
		if err := b.ipt.EnsureJump(j.table, j.chain, j.args...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanup removes every bosun chain and every jump rule leading into them
// from the nat and filter tables, and leaves other chains alone.
func (b *iptablesBackend) cleanup(ctx context.Context) error {
	var errs []error
	for _, j := range jumpRules {
		if err := b.ipt.DeleteJump(j.table, j.chain, j.args...); err != nil {
			errs = append(errs, err)
		}
	}
	for _, table := range []string{TableNAT, TableFilter} {
		b.last[table] = nil
		chains, err := b.ipt.ListChains(table)
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
			if err := b.ipt.Restore(ctx, table, data); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
