package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// leaseOf returns the lease key's value is attached to (0 = none).
func leaseOf(t *testing.T, s *store.Store, key string) int64 {
	t.Helper()
	resp, err := s.Client().Get(context.Background(), key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %v (%d keys)", key, err, len(resp.Kvs))
	}
	return resp.Kvs[0].Lease
}

func TestEventTTL(t *testing.T) {
	ctx := context.Background()
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	opts := e.StoreOptions()
	opts.EventTTL = 2 * time.Second
	s := store.New(e.Client(), opts)
	evRes, podRes := storetest.Resource(t, "events"), storetest.Resource(t, "pods")

	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "a.1"}, Reason: "Test"}
	if err := s.Create(ctx, ev); err != nil {
		t.Fatal(err)
	}
	first := leaseOf(t, s, s.Key(evRes, "default", "a.1"))
	if first == 0 {
		t.Fatal("an Event was stored without a lease")
	}
	ev2 := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "a.2"}, Reason: "Test"}
	if err := s.Create(ctx, ev2); err != nil {
		t.Fatal(err)
	}
	if got := leaseOf(t, s, s.Key(evRes, "default", "a.2")); got != first {
		t.Errorf("second Event has lease %x, want the first's %x reused", got, first)
	}
	p := pod("default", "p", nil)
	if err := s.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := leaseOf(t, s, s.Key(podRes, "default", "p")); got != 0 {
		t.Errorf("a Pod was stored with lease %x; only Events expire", got)
	}

	// An update keeps a lease (a put without one would detach it).
	ev.Count = 2
	if err := s.Update(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if leaseOf(t, s, s.Key(evRes, "default", "a.1")) == 0 {
		t.Error("an updated Event lost its lease")
	}

	// A lease etcd no longer knows (revoked here) is replaced on the next write.
	if _, err := s.Client().Revoke(ctx, clientLease(first)); err != nil {
		t.Fatal(err)
	}
	ev3 := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "a.3"}, Reason: "Test"}
	if err := s.Create(ctx, ev3); err != nil {
		t.Fatalf("create after the lease was revoked: %v", err)
	}
	if got := leaseOf(t, s, s.Key(evRes, "default", "a.3")); got == 0 || got == first {
		t.Errorf("Event after revocation has lease %x, want a new one", got)
	}

	// And the Event is gone once its TTL has passed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Get(ctx, "default", "a.3", &corev1.Event{})
		if errors.Is(err, api.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Event still there 10 s after a 2 s TTL: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := s.Get(ctx, "default", "p", &corev1.Pod{}); err != nil {
		t.Errorf("the Pod expired with the Events: %v", err)
	}
}

func TestEventTTLOff(t *testing.T) {
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	opts := e.StoreOptions()
	opts.EventTTL = -1
	s := store.New(e.Client(), opts)
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "a.1"}}
	if err := s.Create(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := leaseOf(t, s, s.Key(storetest.Resource(t, "events"), "default", "a.1")); got != 0 {
		t.Errorf("EventTTL < 0 stored an Event with lease %x", got)
	}
}

func clientLease(id int64) clientv3.LeaseID { return clientv3.LeaseID(id) }
