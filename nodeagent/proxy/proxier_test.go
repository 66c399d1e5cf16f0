package proxy

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// fakeIPTables records what a Proxier asks of iptables and keeps the set of
// chains per table, applying restore inputs the way iptables-restore
// --noflush does (declared chains are created or flushed, -X deletes).
type fakeIPTables struct {
	mu       sync.Mutex
	restores []string // each restore input, in order
	chains   map[string]map[string][]string
	jumps    map[string][]string // "table/chain" -> rule specs
}

func newFakeIPTables() *fakeIPTables {
	return &fakeIPTables{chains: map[string]map[string][]string{TableNAT: {}, TableFilter: {}}, jumps: map[string][]string{}}
}

func (f *fakeIPTables) Restore(_ context.Context, table string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restores = append(f.restores, string(data))
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			f.chains[table][strings.Fields(line[1:])[0]] = nil
		case strings.HasPrefix(line, "-A "):
			parts := strings.SplitN(line, " ", 3)
			f.chains[table][parts[1]] = append(f.chains[table][parts[1]], parts[2])
		case strings.HasPrefix(line, "-X "):
			delete(f.chains[table], strings.TrimPrefix(line, "-X "))
		}
	}
	return nil
}

func (f *fakeIPTables) EnsureChain(table, chain string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.chains[table][chain]; !ok {
		f.chains[table][chain] = nil
	}
	return nil
}

func (f *fakeIPTables) EnsureJump(table, chain string, rule ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, r := table+"/"+chain, strings.Join(rule, " ")
	if !slices.Contains(f.jumps[k], r) {
		f.jumps[k] = append(f.jumps[k], r)
	}
	return nil
}

func (f *fakeIPTables) DeleteJump(table, chain string, rule ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, r := table+"/"+chain, strings.Join(rule, " ")
	f.jumps[k] = slices.DeleteFunc(f.jumps[k], func(s string) bool { return s == r })
	return nil
}

func (f *fakeIPTables) ListChains(table string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for c := range f.chains[table] {
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeIPTables) DeleteChain(table, chain string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.chains[table], chain)
	return nil
}

func (f *fakeIPTables) lastRestore() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.restores) == 0 {
		return ""
	}
	return f.restores[len(f.restores)-1]
}

func (f *fakeIPTables) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.restores)
}

func (f *fakeIPTables) bosunChains(table string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for c := range f.chains[table] {
		if isBosunChain(c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

func TestSyncWritesOnlyChangedChains(t *testing.T) {
	ipt := newFakeIPTables()
	// A chain left over by an earlier run, and someone else's chain.
	ipt.chains[TableNAT]["BOSUN-SVC-LEFTOVER0000000"] = []string{"-j RETURN"}
	ipt.chains[TableNAT]["OTHER-CHAIN"] = nil
	src := NewMemorySource()
	p, err := New(Config{Source: src, IPTables: ipt})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	three := []string{"10.244.0.11", "10.244.0.12", "10.244.0.13"}
	src.SetService(svc("default", "a", "10.96.0.10", port("", 80, corev1.ProtocolTCP)))
	src.SetService(svc("default", "b", "10.96.0.11", port("", 80, corev1.ProtocolTCP)))
	src.SetEndpoints(eps("default", "a", three, nil, epPort("", 8080, corev1.ProtocolTCP)))
	src.SetEndpoints(eps("default", "b", three, nil, epPort("", 8080, corev1.ProtocolTCP)))

	if err := p.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ipt.bosunChains(TableNAT); slices.Contains(got, "BOSUN-SVC-LEFTOVER0000000") {
		t.Errorf("stale chain survived the first sync: %v", got)
	}
	if _, ok := ipt.chains[TableNAT]["OTHER-CHAIN"]; !ok {
		t.Error("a chain that is not bosun's was deleted")
	}
	if n := len(ipt.jumps); n != len(jumpRules)-1 { // FORWARD holds two
		t.Errorf("jump rules in %d built-in chains, want %d: %v", n, len(jumpRules)-1, ipt.jumps)
	}
	natChains := len(ipt.bosunChains(TableNAT))
	if natChains != 4+2+6 {
		t.Errorf("nat has %d bosun chains, want 12: %v", natChains, ipt.bosunChains(TableNAT))
	}

	// Nothing changed: nothing written.
	before := ipt.count()
	if err := p.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if ipt.count() != before {
		t.Errorf("an unchanged sync wrote %q", ipt.lastRestore())
	}

	// One endpoint of b becomes not ready: only b's chain is rewritten and
	// the endpoint's chain deleted.
	src.SetEndpoints(eps("default", "b", three[:2], three[2:], epPort("", 8080, corev1.ProtocolTCP)))
	if err := p.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if ipt.count() != before+1 {
		t.Fatalf("endpoint change made %d restores, want 1", ipt.count()-before)
	}
	in := ipt.lastRestore()
	sp := servicePorts([]*corev1.Service{svc("default", "b", "10.96.0.11", port("", 80, corev1.ProtocolTCP))}, nil)[0]
	wantDecl := []string{":" + svcChain(sp) + " ", ":" + sepChain(sp, "10.244.0.13:8080") + " ", "-X " + sepChain(sp, "10.244.0.13:8080")}
	for _, w := range wantDecl {
		if !strings.Contains(in, w) {
			t.Errorf("restore input lacks %q:\n%s", w, in)
		}
	}
	if strings.Contains(in, ":BOSUN-SERVICES") || strings.Count(in, "\n:") != 2 {
		t.Errorf("restore input rewrites more than b's chains:\n%s", in)
	}
	if got := len(ipt.bosunChains(TableNAT)); got != natChains-1 {
		t.Errorf("nat has %d bosun chains after removing one endpoint, want %d", got, natChains-1)
	}

	// A flushed chain is repaired by a resync, not by an ordinary sync.
	ipt.chains[TableNAT][ChainServices] = nil
	if err := p.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	if len(ipt.chains[TableNAT][ChainServices]) != 3 {
		t.Errorf("BOSUN-SERVICES after resync: %v", ipt.chains[TableNAT][ChainServices])
	}

	// Service deleted: its chains go, and it is rejected nowhere.
	src.DeleteService("default", "a")
	src.DeleteEndpoints("default", "a")
	if err := p.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(ipt.bosunChains(TableNAT)); got != 4+1+2 {
		t.Errorf("nat has %d bosun chains after deleting a service, want 7: %v", got, ipt.bosunChains(TableNAT))
	}

	if err := p.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{TableNAT, TableFilter} {
		if got := ipt.bosunChains(table); len(got) != 0 {
			t.Errorf("Cleanup left %s chains %v", table, got)
		}
	}
	for k, v := range ipt.jumps {
		if len(v) != 0 {
			t.Errorf("Cleanup left jump rules in %s: %v", k, v)
		}
	}
}

// TestRunCoalescesBursts runs in a synctest bubble on the real clock, which
// is virtual there: synctest.Wait returns once Run has done all it can, so
// "nothing was written yet" is certain rather than a guess.
func TestRunCoalescesBursts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ipt := newFakeIPTables()
		src := NewMemorySource()
		p, err := New(Config{Source: src, IPTables: ipt, MinSyncPeriod: time.Second, SyncPeriod: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := p.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		defer func() { cancel(); wg.Wait() }()

		// Run registers its notify function and waits; the first change
		// triggers the first (full) sync.
		synctest.Wait()
		src.SetService(svc("default", "a", "10.96.0.10", port("", 80, corev1.ProtocolTCP)))
		synctest.Wait()
		if n := ipt.count(); n != 2 {
			t.Fatalf("the first sync gave %d restores, want 2 (nat and filter)", n)
		}

		// A burst of ten changes within the minimum sync period: nothing is
		// written until the period has passed, then one sync programs the last.
		for i := range 10 {
			src.SetEndpoints(eps("default", "a", []string{"10.244.0." + strconv.Itoa(10+i)}, nil, epPort("", 8080, corev1.ProtocolTCP)))
		}
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if ipt.count() != 2 {
			t.Fatalf("synced before MinSyncPeriod passed: %d restores", ipt.count())
		}
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if ipt.count() < 3 {
			t.Fatalf("no sync once MinSyncPeriod passed: %d restores", ipt.count())
		}
		ipt.mu.Lock()
		last := strings.Join(ipt.restores[2:], "")
		ipt.mu.Unlock()
		if !strings.Contains(last, "DNAT --to-destination 10.244.0.19:8080") || strings.Contains(last, "10.244.0.18") {
			t.Errorf("coalesced sync did not program the last endpoint:\n%s", last)
		}
		if n := ipt.count(); n != 3 && n != 4 { // nat, and filter when it changed
			t.Errorf("burst of ten changes gave %d restores after the first sync", n-2)
		}
	})
}
