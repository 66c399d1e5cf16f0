package proxy

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"
)

// recordingNFT is a knftables.Fake that also keeps every transaction it ran.
type recordingNFT struct {
	*knftables.Fake
	mu  sync.Mutex
	txs []string
}

func newRecordingNFT() *recordingNFT {
	return &recordingNFT{Fake: knftables.NewFake(knftables.IPv4Family, NFTablesTable)}
}

func (r *recordingNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	r.mu.Lock()
	r.txs = append(r.txs, tx.String())
	r.mu.Unlock()
	return r.Fake.Run(ctx, tx)
}

func (r *recordingNFT) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.txs) == 0 {
		return ""
	}
	return r.txs[len(r.txs)-1]
}

func (r *recordingNFT) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.txs)
}

// normalDump is fake's dump with the set and map elements sorted: the order
// elements were added in does not matter to nftables.
func normalDump(fake *knftables.Fake) string {
	var other, elems []string
	for _, l := range strings.Split(fake.Dump(), "\n") {
		if strings.HasPrefix(l, "add element ") {
			elems = append(elems, l)
		} else {
			other = append(other, l)
		}
	}
	slices.Sort(elems)
	return strings.Join(append(other, elems...), "\n")
}

func tcp(p int32) corev1.ServicePort { return port("", p, corev1.ProtocolTCP) }

func tcpEps(name string, ready ...string) *corev1.Endpoints {
	return eps("default", name, ready, nil, epPort("", 8080, corev1.ProtocolTCP))
}

// TestNFTIncrementalMatchesFull applies a series of changes with
// incremental syncs and checks, after each, that the table is exactly what
// a full sync of the same Services into an empty table gives, and that the
// transaction touched only what the step changed.
func TestNFTIncrementalMatchesFull(t *testing.T) {
	ctx := context.Background()
	src := NewMemorySource()
	nft := newRecordingNFT()
	p, err := New(Config{Source: src, NFTables: nft, ClusterCIDR: "10.244.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode() != ModeNFTables {
		t.Fatalf("mode %s with only NFTables given", p.Mode())
	}
	src.SetService(svc("default", "web", "10.96.0.10", tcp(80)))
	src.SetEndpoints(tcpEps("web", "10.244.0.11", "10.244.0.12", "10.244.0.13"))
	src.SetService(svc("default", "db", "10.96.0.20", tcp(5432)))
	src.SetEndpoints(tcpEps("db", "10.244.0.21"))
	if err := p.SyncOnce(ctx); err != nil { // the first sync is a full one
		t.Fatal(err)
	}

	steps := []struct {
		name   string
		change func()
		// want and notWant are substrings of the step's transaction.
		want, notWant []string
	}{
		{
			name:    "endpoint removed",
			change:  func() { src.SetEndpoints(tcpEps("web", "10.244.0.11", "10.244.0.12")) },
			want:    []string{"flush chain ip bosun service-", "numgen random mod 2 == 0 meta l4proto tcp dnat to 10.244.0.11:8080", "service-NUSTM4XSRSB4LEMT-default/web/tcp/80 meta l4proto tcp dnat to 10.244.0.12:8080", "delete element ip bosun hairpin { 10.244.0.13 . 10.244.0.13 }"},
			notWant: []string{"default/db", "chain ip bosun endpoint-", "add map", "add table"},
		},
		{
			name:    "endpoint added",
			change:  func() { src.SetEndpoints(tcpEps("web", "10.244.0.11", "10.244.0.12", "10.244.0.14")) },
			want:    []string{"add element ip bosun hairpin { 10.244.0.14 . 10.244.0.14 }", "dnat to 10.244.0.14:8080"},
			notWant: []string{"default/db", "delete"},
		},
		{
			name:   "ClientIP affinity on",
			change: func() { src.SetService(affinity(svc("default", "web", "10.96.0.10", tcp(80)), nil)) },
			want:   []string{"add set ip bosun affinity-", "add chain ip bosun endpoint-", "update @affinity-", "timeout 10800s", "dnat to 10.244.0.14:8080"},
		},
		{
			name:   "affinity timeout changed",
			change: func() { t := int32(60); src.SetService(affinity(svc("default", "web", "10.96.0.10", tcp(80)), &t)) },
			want:   []string{"delete set ip bosun affinity-", "timeout 60s"},
		},
		{
			name:    "node port added",
			change:  func() { src.SetService(nodePort(svc("default", "db", "10.96.0.20", tcp(5432)), 30432)) },
			want:    []string{"add element ip bosun service-nodeports { tcp . 30432", "add chain ip bosun external-"},
			notWant: []string{"default/web"},
		},
		{
			name:    "no endpoints left: reject",
			change:  func() { src.SetEndpoints(tcpEps("db")) },
			want:    []string{"add element ip bosun no-endpoint-services { 10.96.0.20 . tcp . 5432", "add element ip bosun no-endpoint-nodeports { tcp . 30432", "delete element ip bosun service-ips { 10.96.0.20 . tcp . 5432 }"},
			notWant: []string{"default/web"},
		},
		{
			name:   "service deleted",
			change: func() { src.DeleteService("default", "web"); src.DeleteEndpoints("default", "web") },
			want:   []string{"delete element ip bosun service-ips { 10.96.0.10 . tcp . 80 }", "delete chain ip bosun service-", "delete chain ip bosun endpoint-", "delete set ip bosun affinity-", "delete element ip bosun hairpin { 10.244.0.11 . 10.244.0.11 }"},
		},
		{
			name:   "nothing changed",
			change: func() {},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := nft.count()
			st.change()
			if err := p.SyncOnce(ctx); err != nil {
				t.Fatal(err)
			}
			tx := ""
			if nft.count() > before {
				tx = nft.last()
			}
			if st.want == nil && tx != "" {
				t.Errorf("transaction for no change:\n%s", tx)
			}
			for _, w := range st.want {
				if !strings.Contains(tx, w) {
					t.Errorf("transaction lacks %q:\n%s", w, tx)
				}
			}
			for _, w := range st.notWant {
				if strings.Contains(tx, w) {
					t.Errorf("transaction has %q:\n%s", w, tx)
				}
			}

			fresh := knftables.NewFake(knftables.IPv4Family, NFTablesTable)
			fp, err := New(Config{Source: src, NFTables: fresh, ClusterCIDR: "10.244.0.0/16"})
			if err != nil {
				t.Fatal(err)
			}
			if err := fp.Resync(ctx); err != nil {
				t.Fatal(err)
			}
			if got, want := normalDump(nft.Fake), normalDump(fresh); got != want {
				t.Errorf("table after incremental syncs differs from a full sync:\n--- incremental\n%s\n--- full\n%s", got, want)
			}
		})
	}
}

// TestNFTResync: a full resync removes what bosun did not write into its
// table and keeps the clients of affinity sets.
func TestNFTResync(t *testing.T) {
	ctx := context.Background()
	nft := newRecordingNFT()
	src := NewMemorySource()
	src.SetService(affinity(svc("default", "web", "10.96.0.10", tcp(80)), nil))
	src.SetEndpoints(tcpEps("web", "10.244.0.11"))
	p, err := New(Config{Source: src, NFTables: nft})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	sp := servicePorts([]*corev1.Service{affinity(svc("default", "web", "10.96.0.10", tcp(80)), nil)}, []*corev1.Endpoints{tcpEps("web", "10.244.0.11")})[0]
	set := nftAffinitySet(sp, "10.244.0.11:8080", DefaultAffinityTimeout)

	// A client stuck to the endpoint, a leftover chain and set, and a
	// service chain emptied by hand.
	tx := nft.NewTransaction()
	tx.Add(&knftables.Element{Set: set, Key: []string{"10.0.0.7"}})
	tx.Add(&knftables.Chain{Name: "service-LEFTOVER"})
	tx.Add(&knftables.Rule{Chain: "service-LEFTOVER", Rule: "goto " + nftServiceChain(sp)})
	tx.Add(&knftables.Set{Name: "affinity-LEFTOVER", Type: "ipv4_addr"})
	tx.Flush(&knftables.Chain{Name: nftServices})
	if err := nft.Fake.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}

	if err := p.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(nft.Dump(), "LEFTOVER") == false {
		t.Fatal("an incremental sync looked at the table; it should trust its own state")
	}
	if err := p.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	dump := nft.Dump()
	if strings.Contains(dump, "LEFTOVER") {
		t.Errorf("leftovers survived a resync:\n%s", dump)
	}
	if !strings.Contains(dump, "vmap @"+nftServiceIPs) {
		t.Errorf("services chain not refilled:\n%s", dump)
	}
	if nft.Table.Sets[set] == nil || nft.Table.Sets[set].FindElement("10.0.0.7") == nil {
		t.Errorf("resync dropped the affinity set's client:\n%s", dump)
	}
}

func TestModeSelection(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		want    Mode
		wantErr string
	}{
		{name: "only iptables given", cfg: Config{IPTables: newFakeIPTables()}, want: ModeIPTables},
		{name: "only nftables given", cfg: Config{NFTables: knftables.NewFake(knftables.IPv4Family, NFTablesTable)}, want: ModeNFTables},
		{name: "both given, default", cfg: Config{IPTables: newFakeIPTables(), NFTables: knftables.NewFake(knftables.IPv4Family, NFTablesTable)}, want: ModeNFTables},
		{name: "both given, iptables asked", cfg: Config{Mode: ModeIPTables, IPTables: newFakeIPTables(), NFTables: knftables.NewFake(knftables.IPv4Family, NFTablesTable)}, want: ModeIPTables},
		{name: "nftables asked, only iptables given", cfg: Config{Mode: ModeNFTables, IPTables: newFakeIPTables()}, wantErr: "nftables mode needs Config.NFTables"},
		{name: "iptables asked, only nftables given", cfg: Config{Mode: ModeIPTables, NFTables: knftables.NewFake(knftables.IPv4Family, NFTablesTable)}, wantErr: "iptables mode needs Config.IPTables"},
		{name: "unknown mode", cfg: Config{Mode: "ipvs", IPTables: newFakeIPTables()}, wantErr: `proxy mode "ipvs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Mode() != tt.want {
				t.Errorf("mode %s, want %s", p.Mode(), tt.want)
			}
		})
	}
}

// TestSwitchModesCleansTheOther: the first sync of either mode removes the
// other mode's rules, and Cleanup removes both.
func TestSwitchModesCleansTheOther(t *testing.T) {
	ctx := context.Background()
	ipt := newFakeIPTables()
	nft := newRecordingNFT()
	src := NewMemorySource()
	src.SetService(svc("default", "web", "10.96.0.10", tcp(80)))
	src.SetEndpoints(tcpEps("web", "10.244.0.11"))
	run := func(mode Mode) {
		t.Helper()
		p, err := New(Config{Source: src, Mode: mode, IPTables: ipt, NFTables: nft})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run(ModeIPTables)
	if len(ipt.bosunChains(TableNAT)) == 0 || nft.Table != nil {
		t.Fatalf("iptables mode: nat chains %v, nftables table %v", ipt.bosunChains(TableNAT), nft.Table != nil)
	}
	run(ModeNFTables)
	if got := ipt.bosunChains(TableNAT); len(got) != 0 || nft.Table == nil {
		t.Fatalf("nftables mode: iptables still has %v, nftables table %v", got, nft.Table != nil)
	}
	run(ModeIPTables)
	if len(ipt.bosunChains(TableNAT)) == 0 || nft.Table != nil {
		t.Fatalf("back to iptables: nat chains %v, nftables table still there: %v", ipt.bosunChains(TableNAT), nft.Table != nil)
	}
	p, err := New(Config{IPTables: ipt, NFTables: nft})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ipt.bosunChains(TableNAT); len(got) != 0 || nft.Table != nil {
		t.Errorf("Cleanup left iptables %v, nftables table %v", got, nft.Table != nil)
	}
}
