package routes_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/routes"
)

// fakeTable is a routing table holding bosun's routes (marked) and routes
// of others (unmarked), as the kernel's main table does.
type fakeTable struct {
	mu          sync.Mutex
	marked      map[netip.Prefix]netip.Addr
	foreign     map[netip.Prefix]netip.Addr
	unreachable map[netip.Addr]bool // next hops the "kernel" refuses
	failReplace error
	ops         []string
}

func newFakeTable() *fakeTable {
	return &fakeTable{marked: map[netip.Prefix]netip.Addr{}, foreign: map[netip.Prefix]netip.Addr{}, unreachable: map[netip.Addr]bool{}}
}

func (f *fakeTable) List() ([]routes.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []routes.Route
	for d, v := range f.marked {
		out = append(out, routes.Route{Dst: d, Via: v})
	}
	return out, nil
}

func (f *fakeTable) Replace(r routes.Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unreachable[r.Via] {
		return fmt.Errorf("replace %s: %w", r, syscall.ENETUNREACH)
	}
	if f.failReplace != nil {
		return f.failReplace
	}
	// The kernel's main table has one route per destination: replacing a
	// foreign route to the same prefix would take it over.
	delete(f.foreign, r.Dst)
	f.marked[r.Dst] = r.Via
	f.ops = append(f.ops, "replace "+r.String())
	return nil
}

func (f *fakeTable) Delete(r routes.Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.marked, r.Dst)
	f.ops = append(f.ops, "delete "+r.Dst.String())
	return nil
}

// state is the table as "dst via gw" lines, marked and foreign apart.
func (f *fakeTable) state() (marked, foreign []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for d, v := range f.marked {
		marked = append(marked, d.String()+" via "+v.String())
	}
	for d, v := range f.foreign {
		foreign = append(foreign, d.String()+" via "+v.String())
	}
	sort.Strings(marked)
	sort.Strings(foreign)
	return marked, foreign
}

func (f *fakeTable) takeOps() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ops := f.ops
	f.ops = nil
	return ops
}

// memNodes is a NodeSource fed by the test.
type memNodes struct {
	mu     sync.Mutex
	nodes  map[string]*corev1.Node
	synced bool
	notify func()
}

func newMemNodes() *memNodes { return &memNodes{nodes: map[string]*corev1.Node{}, synced: true} }

func (m *memNodes) Run(ctx context.Context, notify func()) error {
	m.mu.Lock()
	m.notify = notify
	m.mu.Unlock()
	notify()
	<-ctx.Done()
	return nil
}

func (m *memNodes) Synced() bool { m.mu.Lock(); defer m.mu.Unlock(); return m.synced }

func (m *memNodes) Nodes() []*corev1.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*corev1.Node, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, n)
	}
	return out
}

func (m *memNodes) set(n *corev1.Node) { m.update(func() { m.nodes[n.Name] = n }) }
func (m *memNodes) del(name string)    { m.update(func() { delete(m.nodes, name) }) }

func (m *memNodes) update(f func()) {
	m.mu.Lock()
	f()
	n := m.notify
	m.mu.Unlock()
	if n != nil {
		n()
	}
}

func node(name, ip string, cidrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if len(cidrs) > 0 {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidrs[0], cidrs
	}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	return n
}

type fakeMasq struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (m *fakeMasq) Ensure(pod, cluster netip.Prefix) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, pod.String()+" !"+cluster.String())
	return m.err
}

func newController(t *testing.T, nodes *memNodes, table *fakeTable, masq routes.Masquerader) *routes.Controller {
	t.Helper()
	c, err := routes.New(routes.Config{NodeName: "self", Nodes: nodes, Table: table, Masquerade: masq,
		ClusterCIDR: "10.244.0.0/16", Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSync drives one Controller through a sequence of Node changes and
// checks the table after each sync.
func TestSync(t *testing.T) {
	nodes := newMemNodes()
	table := newFakeTable()
	foreignDst := netip.MustParsePrefix("192.168.50.0/24")
	table.foreign[foreignDst] = netip.MustParseAddr("10.0.0.254")
	table.foreign[netip.MustParsePrefix("0.0.0.0/0")] = netip.MustParseAddr("10.0.0.1")
	c := newController(t, nodes, table, nil)

	steps := []struct {
		name   string
		change func()
		prep   func() // something done to the table before the sync
		want   []string
	}{
		{"self only", func() { nodes.set(node("self", "10.0.0.1", "10.244.0.0/24")) }, nil, nil},
		{"add", func() { nodes.set(node("b", "10.0.0.2", "10.244.1.0/24")) }, nil,
			[]string{"10.244.1.0/24 via 10.0.0.2"}},
		{"node without CIDR yet", func() { nodes.set(node("c", "10.0.0.3")) }, nil,
			[]string{"10.244.1.0/24 via 10.0.0.2"}},
		{"CIDR assigned", func() { nodes.set(node("c", "10.0.0.3", "10.244.2.0/24")) }, nil,
			[]string{"10.244.1.0/24 via 10.0.0.2", "10.244.2.0/24 via 10.0.0.3"}},
		{"IP change", func() { nodes.set(node("b", "10.0.0.12", "10.244.1.0/24")) }, nil,
			[]string{"10.244.1.0/24 via 10.0.0.12", "10.244.2.0/24 via 10.0.0.3"}},
		{"CIDR change", func() { nodes.set(node("c", "10.0.0.3", "10.244.7.0/24")) }, nil,
			[]string{"10.244.1.0/24 via 10.0.0.12", "10.244.7.0/24 via 10.0.0.3"}},
		{"node with this node's IP", func() { nodes.set(node("old-self", "10.0.0.1", "10.244.9.0/24")) }, nil,
			[]string{"10.244.1.0/24 via 10.0.0.12", "10.244.7.0/24 via 10.0.0.3"}},
		{"node loses its CIDR", func() { nodes.set(node("c", "10.0.0.3")) }, nil,
			[]string{"10.244.1.0/24 via 10.0.0.12"}},
		{"node without InternalIP", func() { nodes.set(node("d", "", "10.244.4.0/24")) }, nil,
			[]string{"10.244.1.0/24 via 10.0.0.12"}},
		{"delete", func() { nodes.del("b") }, nil, nil},
		{"resync repairs a deleted route", func() { nodes.set(node("e", "10.0.0.5", "10.244.5.0/24")) },
			nil, []string{"10.244.5.0/24 via 10.0.0.5"}},
		{"route deleted by hand", nil, func() { delete(table.marked, netip.MustParsePrefix("10.244.5.0/24")) },
			[]string{"10.244.5.0/24 via 10.0.0.5"}},
		{"route changed by hand", nil, func() { table.marked[netip.MustParsePrefix("10.244.5.0/24")] = netip.MustParseAddr("10.0.0.99") },
			[]string{"10.244.5.0/24 via 10.0.0.5"}},
		{"stale marked route from an earlier run", nil, func() { table.marked[netip.MustParsePrefix("10.244.66.0/24")] = netip.MustParseAddr("10.0.0.66") },
			[]string{"10.244.5.0/24 via 10.0.0.5"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.change != nil {
				s.change()
			}
			if s.prep != nil {
				s.prep()
			}
			if err := c.Sync(true); err != nil {
				t.Fatal(err)
			}
			marked, foreign := table.state()
			if !slices.Equal(marked, s.want) {
				t.Errorf("bosun's routes = %q, want %q", marked, s.want)
			}
			if want := []string{"0.0.0.0/0 via 10.0.0.1", "192.168.50.0/24 via 10.0.0.254"}; !slices.Equal(foreign, want) {
				t.Errorf("foreign routes = %q, want %q (untouched)", foreign, want)
			}
			if err := c.NetworkReady(); err != nil {
				t.Errorf("NetworkReady after a sync: %v", err)
			}
			// A second sync with nothing changed does nothing.
			table.takeOps()
			if err := c.Sync(false); err != nil {
				t.Fatal(err)
			}
			if ops := table.takeOps(); len(ops) != 0 {
				t.Errorf("a sync with nothing changed did %q", ops)
			}
		})
	}
}

func TestNetworkReady(t *testing.T) {
	tests := []struct {
		name     string
		nodes    []*corev1.Node
		unsynced bool
		sync     bool
		after    func(n *memNodes)  // a change after the sync
		table    func(t *fakeTable) // before the sync
		masqErr  error
		wantErr  string // "" = ready
	}{
		{name: "not listed yet", unsynced: true, sync: false, wantErr: "the Node list has not been read yet"},
		{name: "no pod CIDR", nodes: []*corev1.Node{node("self", "10.0.0.1")}, sync: true, wantErr: "node self has no pod CIDR yet"},
		{name: "not synced", nodes: []*corev1.Node{node("self", "10.0.0.1", "10.244.0.0/24")}, sync: false,
			wantErr: "the routes for the current Node list are not programmed yet"},
		{name: "synced", nodes: []*corev1.Node{node("self", "10.0.0.1", "10.244.0.0/24"), node("b", "10.0.0.2", "10.244.1.0/24")}, sync: true},
		{name: "a new node after the sync", nodes: []*corev1.Node{node("self", "10.0.0.1", "10.244.0.0/24")}, sync: true,
			after:   func(n *memNodes) { n.set(node("b", "10.0.0.2", "10.244.1.0/24")) },
			wantErr: "the routes for the current Node list are not programmed yet"},
		{name: "a status-only change after the sync keeps it ready", nodes: []*corev1.Node{node("self", "10.0.0.1", "10.244.0.0/24"), node("b", "10.0.0.2", "10.244.1.0/24")}, sync: true,
			after: func(n *memNodes) {
				b := node("b", "10.0.0.2", "10.244.1.0/24")
				b.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
				n.set(b)
			}},
		{name: "route refused", nodes: []*corev1.Node{node("self", "10.0.0.1", "10.244.0.0/24"), node("b", "10.0.0.2", "10.244.1.0/24")}, sync: true,
			table: func(t *fakeTable) { t.failReplace = syscall.EPERM }, wantErr: "programming the routes failed"},
		{name: "a node off this L2 segment does not block", nodes: []*corev1.Node{node("self", "10.0.0.1", "10.244.0.0/24"), node("far", "172.16.0.9", "10.244.1.0/24")}, sync: true,
			table: func(t *fakeTable) { t.unreachable[netip.MustParseAddr("172.16.0.9")] = true }},
		{name: "masquerade rule refused", nodes: []*corev1.Node{node("self", "10.0.0.1", "10.244.0.0/24")}, sync: true,
			masqErr: errors.New("iptables: permission denied"), wantErr: "masquerade rule for 10.244.0.0/24"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := newMemNodes()
			for _, n := range tc.nodes {
				nodes.set(n)
			}
			nodes.synced = !tc.unsynced
			table := newFakeTable()
			if tc.table != nil {
				tc.table(table)
			}
			c := newController(t, nodes, table, &fakeMasq{err: tc.masqErr})
			if tc.sync {
				_ = c.Sync(false)
			}
			if tc.after != nil {
				tc.after(nodes)
			}
			err := c.NetworkReady()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("NetworkReady = %v, want ready", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, routes.ErrNotReady)):
				t.Errorf("NetworkReady = %v, want ErrNotReady with %q", err, tc.wantErr)
			}
		})
	}
}

func TestMasquerade(t *testing.T) {
	nodes := newMemNodes()
	masq := &fakeMasq{}
	c := newController(t, nodes, newFakeTable(), masq)
	nodes.set(node("self", "10.0.0.1"))
	if err := c.Sync(true); err != nil {
		t.Fatal(err)
	}
	if len(masq.calls) != 0 {
		t.Fatalf("masquerade ensured before the node has a pod CIDR: %q", masq.calls)
	}
	nodes.set(node("self", "10.0.0.1", "10.244.3.0/24"))
	for _, full := range []bool{false, false, true} {
		if err := c.Sync(full); err != nil {
			t.Fatal(err)
		}
	}
	// Once for the new CIDR, once more for the full resync; not for the
	// sync in between.
	want := []string{"10.244.3.0/24 !10.244.0.0/16", "10.244.3.0/24 !10.244.0.0/16"}
	if !slices.Equal(masq.calls, want) {
		t.Errorf("Ensure calls = %q, want %q", masq.calls, want)
	}
}

func TestConfig(t *testing.T) {
	good := routes.Config{NodeName: "n", Nodes: newMemNodes(), Table: newFakeTable()}
	tests := []struct {
		name    string
		edit    func(*routes.Config)
		wantErr string
	}{
		{"ok", func(*routes.Config) {}, ""},
		{"no node name", func(c *routes.Config) { c.NodeName = "" }, "node name is required"},
		{"no table", func(c *routes.Config) { c.Table = nil }, "route table is required"},
		{"no client", func(c *routes.Config) { c.Nodes = nil }, "client of the API"},
		{"masquerade without cluster CIDR", func(c *routes.Config) { c.Masquerade = &fakeMasq{} }, "cluster CIDR"},
		{"cluster CIDR with host bits", func(c *routes.Config) { c.ClusterCIDR = "10.244.1.0/16" }, "host bits are set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			_, err := routes.New(cfg)
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("New = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestRun checks the loop: a Node change is programmed without a resync,
// and a failed sync is retried until it succeeds.
func TestRun(t *testing.T) {
	nodes := newMemNodes()
	nodes.set(node("self", "10.0.0.1", "10.244.0.0/24"))
	table := newFakeTable()
	table.failReplace = syscall.EPERM
	c, err := routes.New(routes.Config{NodeName: "self", Nodes: nodes, Table: table, Logger: logger(t),
		RetryInitial: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond, ResyncPeriod: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testutil.EventuallyTrue(t, 5*time.Second, "ready with only this node", func() bool { return c.NetworkReady() == nil })
	nodes.set(node("b", "10.0.0.2", "10.244.1.0/24"))
	testutil.EventuallyTrue(t, 5*time.Second, "the failure reported", func() bool {
		err := c.NetworkReady()
		return err != nil && strings.Contains(err.Error(), "programming the routes failed")
	})
	table.mu.Lock()
	table.failReplace = nil
	table.mu.Unlock()
	testutil.EventuallyTrue(t, 5*time.Second, "the route programmed by a retry", func() bool {
		m, _ := table.state()
		return slices.Equal(m, []string{"10.244.1.0/24 via 10.0.0.2"}) && c.NetworkReady() == nil
	})
}

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
