package cache

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

func newPod(ns, name, node string, lbls map[string]string, owners ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "app"}}},
	}
	for _, o := range owners {
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: o, UID: types.UID("uid-" + o)})
	}
	return p
}

// events records handler calls as "add ns/name", "update ns/name old-rv->new-rv",
// "delete ns/name".
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) handler() Handler {
	return Handler{
		OnAdd: func(o api.Object) { e.add("add " + keyOf(o)) },
		OnUpdate: func(old, o api.Object) {
			e.add(fmt.Sprintf("update %s %s->%s", keyOf(o), old.GetResourceVersion(), o.GetResourceVersion()))
		},
		OnDelete: func(o api.Object) { e.add("delete " + keyOf(o)) },
	}
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.got = append(e.got, s)
	e.mu.Unlock()
}

func (e *events) len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.got)
}

// take returns the recorded events, sorted, and forgets them.
func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.got
	e.got = nil
	sort.Strings(out)
	return out
}

// run starts inf until the test ends.
func run(t *testing.T, inf *Informer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := inf.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := inf.WaitForSync(wctx); err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, s *store.Store, objs ...api.Object) {
	t.Helper()
	for _, o := range objs {
		if err := s.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func names(objs []api.Object) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, keyOf(o))
	}
	sort.Strings(out)
	return out
}

func TestInformerListThenWatch(t *testing.T) {
	s := storetest.Start(t)
	ctx := context.Background()
	a := newPod("a", "p1", "", map[string]string{"app": "web"})
	create(t, s, a, newPod("a", "p2", "", nil), newPod("b", "p1", "", nil))

	inf := NewInformer(s.ListWatcher(storetest.Resource(t, "pods")), storetest.Resource(t, "pods"), storetest.Logger(t))
	if inf.Resource().Name != "pods" {
		t.Errorf("Resource = %q", inf.Resource().Name)
	}
	if inf.HasSynced() {
		t.Fatal("HasSynced before Run")
	}
	var ev events
	inf.AddHandler(ev.handler())
	run(t, inf)
	if !inf.HasSynced() {
		t.Fatal("HasSynced false after WaitForSync")
	}
	if got, want := ev.take(), []string{"add a/p1", "add a/p2", "add b/p1"}; !slices.Equal(got, want) {
		t.Fatalf("events of the first list = %v, want %v", got, want)
	}
	if inf.LastRevision() < 1 {
		t.Errorf("LastRevision = %d after the list", inf.LastRevision())
	}

	// Add.
	create(t, s, newPod("b", "p2", "", nil))
	testutil.EventuallyTrue(t, 10*time.Second, "add event", func() bool { return ev.len() == 1 })
	if got := ev.take(); !slices.Equal(got, []string{"add b/p2"}) {
		t.Errorf("events = %v, want [add b/p2]", got)
	}
	if _, ok := inf.Get("b", "p2"); !ok {
		t.Error("Get(b, p2) after add: not found")
	}

	// Update: old carries the previous state, new the stored one.
	oldRV := a.ResourceVersion
	a.Labels["app"] = "db"
	if err := s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "update event", func() bool { return ev.len() == 1 })
	if got, want := ev.take(), []string{fmt.Sprintf("update a/p1 %s->%s", oldRV, a.ResourceVersion)}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	got, ok := inf.Get("a", "p1")
	if !ok || got.GetLabels()["app"] != "db" || got.GetResourceVersion() != a.ResourceVersion {
		t.Errorf("Get(a, p1) after update = %v, %v", got, ok)
	}
	if n := len(inf.List("a", labels.SelectorFromSet(labels.Set{"app": "web"}))); n != 0 {
		t.Errorf("List app=web after relabel: %d objects, want 0", n)
	}
	if n := len(inf.List("a", labels.SelectorFromSet(labels.Set{"app": "db"}))); n != 1 {
		t.Errorf("List app=db after relabel: %d objects, want 1", n)
	}

	// Delete: the handler gets the last known state.
	var deleted atomic.Pointer[corev1.Pod]
	inf.AddHandler(Handler{OnDelete: func(o api.Object) { deleted.Store(o.(*corev1.Pod)) }})
	ev.take() // the late handler's replay does not go to ev
	if err := s.Delete(ctx, storetest.Resource(t, "pods"), "a", "p1", ""); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "delete event", func() bool { return ev.len() == 1 })
	if got := ev.take(); !slices.Equal(got, []string{"delete a/p1"}) {
		t.Errorf("events = %v, want [delete a/p1]", got)
	}
	// Each handler runs on its own goroutine: the second one may be called
	// after ev's.
	testutil.EventuallyTrue(t, 10*time.Second, "the late handler's delete event", func() bool { return deleted.Load() != nil })
	if p := deleted.Load(); p == nil || p.Labels["app"] != "db" {
		t.Errorf("OnDelete object = %v, want the last state (app=db)", p)
	}
	if _, ok := inf.Get("a", "p1"); ok {
		t.Error("Get(a, p1) after delete: still found")
	}
	if got, want := names(inf.List("", nil)), []string{"a/p2", "b/p1", "b/p2"}; !slices.Equal(got, want) {
		t.Errorf("List all = %v, want %v", got, want)
	}
}

func TestInformerLateHandlerReplaysCache(t *testing.T) {
	s := storetest.Start(t)
	create(t, s, newPod("a", "p1", "", nil), newPod("a", "p2", "", nil))
	inf := NewInformer(s.ListWatcher(storetest.Resource(t, "pods")), storetest.Resource(t, "pods"), nil)
	run(t, inf)
	var ev events
	inf.AddHandler(ev.handler())
	if got, want := ev.take(), []string{"add a/p1", "add a/p2"}; !slices.Equal(got, want) {
		t.Fatalf("late handler got %v, want %v", got, want)
	}
	create(t, s, newPod("a", "p3", "", nil))
	testutil.EventuallyTrue(t, 10*time.Second, "add event", func() bool { return ev.len() == 1 })
	if got := ev.take(); !slices.Equal(got, []string{"add a/p3"}) {
		t.Errorf("events = %v", got)
	}
}

func TestInformerIndexes(t *testing.T) {
	s := storetest.Start(t)
	ctx := context.Background()
	p1 := newPod("a", "p1", "n1", nil, "rs1")
	p2 := newPod("a", "p2", "", nil, "rs1", "rs2")
	create(t, s, p1, p2, newPod("b", "p3", "n1", nil))
	inf := NewInformer(s.ListWatcher(storetest.Resource(t, "pods")), storetest.Resource(t, "pods"), nil)
	inf.AddIndex(IndexOwnerUID, IndexByOwnerUID)
	inf.AddIndex(IndexNodeName, IndexByNodeName)
	var ev events
	inf.AddHandler(ev.handler())
	run(t, inf)
	ev.take()

	check := func(stage string, want map[[2]string][]string) {
		t.Helper()
		for q, w := range want {
			if got := names(inf.ByIndex(q[0], q[1])); !slices.Equal(got, w) && !(len(got) == 0 && len(w) == 0) {
				t.Errorf("%s: ByIndex(%s, %q) = %v, want %v", stage, q[0], q[1], got, w)
			}
		}
	}
	check("after list", map[[2]string][]string{
		{IndexOwnerUID, "uid-rs1"}: {"a/p1", "a/p2"},
		{IndexOwnerUID, "uid-rs2"}: {"a/p2"},
		{IndexOwnerUID, "uid-rs3"}: nil,
		{IndexNodeName, "n1"}:      {"a/p1", "b/p3"},
		{IndexNodeName, ""}:        {"a/p2"},
		{IndexNodeName, "n2"}:      nil,
	})

	// Schedule p2 on n2, release p1 from rs1 and give it to rs3.
	p2.Spec.NodeName = "n2"
	if err := s.Update(ctx, p2); err != nil {
		t.Fatal(err)
	}
	p1.OwnerReferences[0].UID = "uid-rs3"
	if err := s.Update(ctx, p1); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "two updates", func() bool { return ev.len() == 2 })
	check("after updates", map[[2]string][]string{
		{IndexOwnerUID, "uid-rs1"}: {"a/p2"},
		{IndexOwnerUID, "uid-rs3"}: {"a/p1"},
		{IndexNodeName, "n1"}:      {"a/p1", "b/p3"},
		{IndexNodeName, ""}:        nil,
		{IndexNodeName, "n2"}:      {"a/p2"},
	})

	if err := s.Delete(ctx, storetest.Resource(t, "pods"), "a", "p2", ""); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "delete", func() bool { return ev.len() == 3 })
	check("after delete", map[[2]string][]string{
		{IndexOwnerUID, "uid-rs1"}: nil,
		{IndexOwnerUID, "uid-rs2"}: nil,
		{IndexNodeName, "n2"}:      nil,
	})

	// Adding an existing index again (another controller) keeps it working.
	inf.AddIndex(IndexNodeName, IndexByNodeName)
	check("after adding the node index again", map[[2]string][]string{
		{IndexNodeName, "n1"}: {"a/p1", "b/p3"},
	})

	// An index added while running is built from the cache.
	inf.AddIndex("namespace", func(o api.Object) []string { return []string{o.GetNamespace()} })
	if got := names(inf.ByIndex("namespace", "b")); !slices.Equal(got, []string{"b/p3"}) {
		t.Errorf("late index: %v", got)
	}
}

func TestIndexByNodeNameIgnoresOtherKinds(t *testing.T) {
	if got := IndexByNodeName(&corev1.Node{}); got != nil {
		t.Errorf("IndexByNodeName(node) = %v, want nil", got)
	}
	if got := IndexByOwnerUID(&corev1.Pod{}); got != nil {
		t.Errorf("IndexByOwnerUID(no owners) = %v, want nil", got)
	}
}

// TestInformerListMatchesStore compares List with the store's own List for many
// namespaces and selectors.
func TestInformerListMatchesStore(t *testing.T) {
	s := storetest.Start(t)
	for i := range 24 {
		l := map[string]string{"app": []string{"web", "db", "cache"}[i%3]}
		if i%2 == 0 {
			l["tier"] = "front"
		}
		if i%5 == 0 {
			l = nil
		}
		create(t, s, newPod([]string{"a", "b"}[i%2], fmt.Sprintf("p%d", i), "", l))
	}
	create(t, s, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "z1"}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}})
	pods := NewInformer(s.ListWatcher(storetest.Resource(t, "pods")), storetest.Resource(t, "pods"), nil)
	run(t, pods)
	nodesR, _ := api.Lookup("nodes")
	nodes := NewInformer(s.ListWatcher(nodesR), nodesR, nil)
	run(t, nodes)

	tests := []struct {
		name      string
		inf       *Informer
		namespace string
		selector  string // "" = nil selector
	}{
		{name: "all", inf: pods},
		{name: "namespace", inf: pods, namespace: "a"},
		{name: "unknown namespace", inf: pods, namespace: "nope"},
		{name: "everything selector", inf: pods, namespace: "a", selector: " "},
		{name: "equality", inf: pods, namespace: "a", selector: "app=web"},
		{name: "equality all namespaces", inf: pods, selector: "app=web"},
		{name: "double equals", inf: pods, namespace: "b", selector: "app==db"},
		{name: "two labels", inf: pods, selector: "app=web,tier=front"},
		{name: "in one", inf: pods, namespace: "a", selector: "app in (cache)"},
		{name: "in two", inf: pods, namespace: "a", selector: "app in (cache,web)"},
		{name: "not equal", inf: pods, namespace: "b", selector: "app!=web"},
		{name: "exists", inf: pods, selector: "tier"},
		{name: "not exists", inf: pods, selector: "!app"},
		{name: "no match", inf: pods, selector: "app=nope"},
		{name: "equality and notin", inf: pods, selector: "tier=front,app notin (web)"},
		{name: "cluster-scoped", inf: nodes},
		{name: "cluster-scoped namespace ignored", inf: nodes, namespace: "a"},
		{name: "cluster-scoped selector", inf: nodes, selector: "zone=z1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sel labels.Selector
			if tt.selector != "" {
				var err error
				if sel, err = labels.Parse(strings.TrimSpace(tt.selector)); err != nil {
					t.Fatal(err)
				}
			}
			want, _, err := s.List(context.Background(), tt.inf.Resource(), tt.namespace, store.ListOptions{Selector: sel})
			if err != nil {
				t.Fatal(err)
			}
			if got, w := names(tt.inf.List(tt.namespace, sel)), names(want); !slices.Equal(got, w) {
				t.Errorf("List(%q, %q) = %v, want %v", tt.namespace, tt.selector, got, w)
			}
		})
	}
	if _, ok := nodes.Get("ignored", "n1"); !ok {
		t.Error("Get of a cluster-scoped object: not found")
	}
}

// TestInformerRelistAfterCompaction stops the informer's watch, changes the store
// and compacts its history, so the next watch fails with ErrCompacted; the
// informer must list again and emit exactly the difference.
func TestInformerRelistAfterCompaction(t *testing.T) {
	s := storetest.Start(t)
	ctx := context.Background()
	p1, p2 := newPod("a", "p1", "n1", nil, "rs1"), newPod("a", "p2", "n1", nil, "rs1")
	create(t, s, p1, p2, newPod("a", "p3", "", nil))

	inf := NewInformer(s.ListWatcher(storetest.Resource(t, "pods")), storetest.Resource(t, "pods"), storetest.Logger(t))
	inf.AddIndex(IndexNodeName, IndexByNodeName)
	var armed atomic.Bool
	paused, resume := make(chan int64, 1), make(chan struct{})
	inf.lw.beforeWatch = func(rev int64) {
		if armed.CompareAndSwap(true, false) {
			paused <- rev
			<-resume
		}
	}
	var ev events
	inf.AddHandler(ev.handler())
	run(t, inf)
	ev.take()

	armed.Store(true)
	inf.lw.interrupt <- struct{}{}
	from := <-paused // the informer is between watches now

	oldRV := p1.ResourceVersion
	p1.Spec.NodeName = "n2"
	if err := s.Update(ctx, p1); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, storetest.Resource(t, "pods"), "a", "p2", ""); err != nil {
		t.Fatal(err)
	}
	p5 := newPod("a", "p5", "", nil)
	create(t, s, newPod("a", "p4", "", nil), p5)
	if err := s.Delete(ctx, storetest.Resource(t, "pods"), "a", "p5", ""); err != nil { // came and went: no event
		t.Fatal(err)
	}
	rev, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Watch(ctx, storetest.Resource(t, "pods"), "", from); err == nil {
		t.Fatal("watch from the informer's revision still works after compaction; the test proves nothing")
	}
	close(resume)

	want := []string{"add a/p4", "delete a/p2", fmt.Sprintf("update a/p1 %s->%s", oldRV, p1.ResourceVersion)}
	testutil.EventuallyTrue(t, 10*time.Second, "relist events", func() bool { return ev.len() >= len(want) })
	if got := ev.take(); !slices.Equal(got, want) {
		t.Errorf("events after relist = %v, want %v", got, want)
	}
	if got := inf.LastRevision(); got < rev {
		t.Errorf("LastRevision = %d, want >= %d", got, rev)
	}
	if got, want := names(inf.List("", nil)), []string{"a/p1", "a/p3", "a/p4"}; !slices.Equal(got, want) {
		t.Errorf("cache after relist = %v, want %v", got, want)
	}
	if got := names(inf.ByIndex(IndexNodeName, "n2")); !slices.Equal(got, []string{"a/p1"}) {
		t.Errorf("node index after relist: n2 = %v", got)
	}
	if got := names(inf.ByIndex(IndexNodeName, "n1")); len(got) != 0 {
		t.Errorf("node index after relist: n1 = %v, want none", got)
	}

	// And the new watch works.
	create(t, s, newPod("a", "p6", "", nil))
	testutil.EventuallyTrue(t, 10*time.Second, "event after relist", func() bool { return ev.len() == 1 })
	if got := ev.take(); !slices.Equal(got, []string{"add a/p6"}) {
		t.Errorf("events = %v", got)
	}
}

// scripted is a ListWatcher whose list is empty (at revision 1) and whose
// watch delivers the events sent on its channel.
type scripted chan scriptedEvent

type scriptedEvent struct {
	typ watch.EventType
	obj api.Object
}

func (scripted) List(context.Context) ([]api.Object, int64, error) { return nil, 1, nil }

func (s scripted) Watch(ctx context.Context, _ int64, fn func(watch.EventType, api.Object)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-s:
			fn(ev.typ, ev.obj)
		}
	}
}

// TestInformerIgnoresStaleEvents feeds the informer events out of revision
// order; each step is followed by a change of another pod (the marker), whose
// handler call says the step was handled.
func TestInformerIgnoresStaleEvents(t *testing.T) {
	src := make(scripted)
	inf := NewInformer(src, storetest.Resource(t, "pods"), slog.New(slog.DiscardHandler))
	var ev events
	inf.AddHandler(ev.handler())
	run(t, inf)
	pod := func(name, rv string, node string) *corev1.Pod {
		p := newPod("a", name, node, nil)
		p.ResourceVersion = rv
		return p
	}
	steps := []struct {
		name string
		typ  watch.EventType
		obj  api.Object
		want []string // events emitted
		node string   // node of the cached pod afterwards ("-" = absent)
	}{
		{name: "add", typ: watch.Added, obj: pod("p", "10", "n1"), want: []string{"add a/p"}, node: "n1"},
		{name: "older modify ignored", typ: watch.Modified, obj: pod("p", "9", "n9"), node: "n1"},
		{name: "same revision ignored", typ: watch.Modified, obj: pod("p", "10", "n9"), node: "n1"},
		{name: "newer modify", typ: watch.Modified, obj: pod("p", "12", "n2"), want: []string{"update a/p 10->12"}, node: "n2"},
		{name: "stale delete ignored", typ: watch.Deleted, obj: pod("p", "11", "n2"), node: "n2"},
		{name: "delete", typ: watch.Deleted, obj: pod("p", "13", "n2"), want: []string{"delete a/p"}, node: "-"},
		{name: "delete of unknown ignored", typ: watch.Deleted, obj: pod("p", "14", "n2"), node: "-"},
		{name: "modify of unknown is an add", typ: watch.Modified, obj: pod("p", "15", "n3"), want: []string{"add a/p"}, node: "n3"},
	}
	markers := 0
	for n, st := range steps {
		src <- scriptedEvent{st.typ, st.obj}
		// Markers have revisions 2..9, below the steps', so LastRevision stays the steps'.
		src <- scriptedEvent{watch.Modified, pod("marker", strconv.Itoa(n+2), "")}
		var got []string
		testutil.EventuallyTrue(t, 10*time.Second, st.name+" handled", func() bool {
			for _, e := range ev.take() {
				if strings.Contains(e, "a/marker") {
					markers++
				} else {
					got = append(got, e)
				}
			}
			return markers == n+1
		})
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: events %v, want %v", st.name, got, st.want)
		}
		node := "-"
		if o, ok := inf.Get("a", "p"); ok {
			node = o.(*corev1.Pod).Spec.NodeName
		}
		if node != st.node {
			t.Errorf("%s: cached node %q, want %q", st.name, node, st.node)
		}
	}
	if got := inf.LastRevision(); got != 15 {
		t.Errorf("LastRevision = %d, want 15", got)
	}
}

func TestInformerRunTwice(t *testing.T) {
	s := storetest.Start(t)
	inf := NewInformer(s.ListWatcher(storetest.Resource(t, "pods")), storetest.Resource(t, "pods"), nil)
	run(t, inf)
	if err := inf.Run(context.Background()); err == nil {
		t.Error("second Run returned nil, want an error")
	}
}

func TestInformerWaitForSyncHonoursContext(t *testing.T) {
	inf := NewInformer(nil, storetest.Resource(t, "pods"), nil) // never run
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := inf.WaitForSync(ctx); err == nil {
		t.Error("WaitForSync of an informer never run returned nil")
	}
}
