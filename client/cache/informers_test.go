package cache

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/store/storetest"
)

func TestInformersShareInstances(t *testing.T) {
	s := storetest.Start(t)
	f := NewInformers(s, nil)
	pods := f.For(storetest.Resource(t, "pods"))
	for _, name := range []string{"pods", "pod", "po", "Pod"} {
		if got := f.ForKind(name); got != pods {
			t.Errorf("ForKind(%q) is another instance than For(pods)", name)
		}
	}
	nodes := f.ForKind("nodes")
	if nodes == pods || nodes.Resource().Name != "nodes" {
		t.Errorf("ForKind(nodes) = %v", nodes.Resource().Name)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("ForKind of an unknown name did not panic")
			}
		}()
		f.ForKind("gizmos")
	}()
}

func TestInformersStartAndWaitForSync(t *testing.T) {
	s := storetest.Start(t)
	create(t, s, newPod("a", "p1", "", nil), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	f := NewInformers(s, storetest.Logger(t))
	pods, nodes := f.ForKind("pods"), f.ForKind("nodes")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx)
	f.Start(ctx) // no second Run of the same informers
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := f.WaitForSync(wctx); err != nil {
		t.Fatal(err)
	}
	if !pods.HasSynced() || !nodes.HasSynced() {
		t.Fatal("WaitForSync returned before every informer synced")
	}
	if _, ok := pods.Get("a", "p1"); !ok {
		t.Error("pod not cached")
	}
	if _, ok := nodes.Get("", "n1"); !ok {
		t.Error("node not cached")
	}

	// An informer created after Start runs when Start is called again.
	cms := f.ForKind("configmaps")
	short, scancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer scancel()
	if err := f.WaitForSync(short); err == nil {
		t.Error("WaitForSync succeeded with an informer not started")
	}
	f.Start(ctx)
	if err := f.WaitForSync(wctx); err != nil {
		t.Fatal(err)
	}
	if !cms.HasSynced() {
		t.Error("late informer did not sync")
	}
}
