package scheduler

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// The queue tests run in synctest bubbles: the contexts' timeouts pass in
// virtual time while the queue's own clock, a fake, moves only when stepped.
var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// popNow pops a pod that must be due now.
func popNow(t *testing.T, q *queue) *queuedPod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p := q.Pop(ctx)
	if p == nil {
		t.Fatal("no pod due")
	}
	return p
}

// assertEmptyNow checks that no pod is due without the clock moving. In a
// synctest bubble (every queue test runs in one) Pop's wait ends only once
// nothing else can run, so "not due" is certain, not a matter of timing.
func assertEmptyNow(t *testing.T, q *queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if p := q.Pop(ctx); p != nil {
		t.Fatalf("%s is due, want none", p.pod.Name)
	}
}

func TestQueueOrderByCreation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(clocktesting.NewFakeClock(t0))
		q.Add(makePod("c", "", "", createdAt(t0.Add(2*time.Second))))
		q.Add(makePod("a", "", "", createdAt(t0)))
		q.Add(makePod("b2", "", "", createdAt(t0.Add(time.Second))))
		q.Add(makePod("b1", "", "", createdAt(t0.Add(time.Second)))) // same second: after b2, added first
		var got []string
		for range 4 {
			p := popNow(t, q)
			got = append(got, p.pod.Name)
			q.Done(p)
		}
		if want := []string{"a", "b2", "b1", "c"}; !equalStrings(got, want) {
			t.Fatalf("order %v, want %v", got, want)
		}
		if q.Len() != 0 {
			t.Fatalf("%d pods left", q.Len())
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQueueBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clocktesting.NewFakeClock(t0)
		q := newQueue(clk)
		q.Add(makePod("p", "", ""))
		waits := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
		for i, wait := range waits {
			p := popNow(t, q)
			if p.attempts != i+1 {
				t.Fatalf("attempts %d, want %d", p.attempts, i+1)
			}
			q.Backoff(p)
			assertEmptyNow(t, q)
			clk.Step(wait - time.Millisecond)
			assertEmptyNow(t, q)
			clk.Step(time.Millisecond)
		}
		popNow(t, q)
	})
}

func TestQueueBlockedPopWakesOnBackoffExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clocktesting.NewFakeClock(t0)
		q := newQueue(clk)
		q.Add(makePod("p", "", ""))
		q.Backoff(popNow(t, q))
		got := make(chan *queuedPod, 1)
		go func() { got <- q.Pop(t.Context()) }()
		synctest.Wait()
		if !clk.HasWaiters() {
			t.Fatal("Pop does not wait on a timer of the fake clock")
		}
		clk.Step(time.Second)
		if p := testutil.Receive(t, got, 5*time.Second, "Pop to return when the backoff expired"); p == nil || p.pod.Name != "p" {
			t.Fatalf("got %v", p)
		}
	})
}

func TestQueueUnschedulableAndMoveAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clocktesting.NewFakeClock(t0)
		q := newQueue(clk)
		q.Add(makePod("p", "", ""))
		p := popNow(t, q)
		q.Unschedulable(p)
		clk.Step(time.Minute)
		assertEmptyNow(t, q) // waits for a change however long it takes
		if q.NumUnschedulable() != 1 {
			t.Fatalf("unschedulable %d, want 1", q.NumUnschedulable())
		}
		// A status-only update (the scheduler's own condition) does not move it.
		upd := p.pod.DeepCopy()
		upd.ResourceVersion = "5"
		upd.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
		q.Add(upd)
		assertEmptyNow(t, q)
		if p.pod != upd {
			t.Fatal("newer version not recorded")
		}
		// An older version is ignored.
		older := upd.DeepCopy()
		older.ResourceVersion = "4"
		q.Refresh(older)
		q.Add(older)
		if p.pod != upd {
			t.Fatal("older version recorded")
		}
		q.MoveAll() // backoff of attempt 1 (1 s) expired long ago
		p = popNow(t, q)
		if p.attempts != 2 {
			t.Fatalf("attempts %d, want 2", p.attempts)
		}
		// A change reported while the pod is in flight sends it to backoff, not to
		// the unschedulable pool where it would miss the change.
		q.MoveAll()
		q.Unschedulable(p)
		if q.NumUnschedulable() != 0 {
			t.Fatal("pod parked despite a change during its attempt")
		}
		clk.Step(2 * time.Second)
		p = popNow(t, q)
		// A spec change moves an unschedulable pod at once (through its backoff).
		q.Unschedulable(p)
		spec := p.pod.DeepCopy()
		spec.ResourceVersion = "6"
		spec.Generation = 2
		q.Add(spec)
		clk.Step(4 * time.Second)
		if p := popNow(t, q); p.pod != spec {
			t.Fatal("spec change did not requeue the pod")
		}
	})
}

func TestQueueDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clocktesting.NewFakeClock(t0)
		q := newQueue(clk)
		a, b, c := makePod("a", "", "", createdAt(t0)), makePod("b", "", "", createdAt(t0.Add(time.Second))), makePod("c", "", "", createdAt(t0.Add(2*time.Second)))
		q.Add(a)
		q.Add(b)
		q.Add(c)
		q.Delete(b) // active
		pa := popNow(t, q)
		q.Unschedulable(pa)
		q.Delete(a) // unschedulable
		pc := popNow(t, q)
		q.Delete(c) // in flight: a late Backoff must not bring it back
		q.Backoff(pc)
		clk.Step(time.Hour)
		assertEmptyNow(t, q)
		if q.Len() != 0 || q.NumUnschedulable() != 0 {
			t.Fatalf("left: %d pods, %d unschedulable", q.Len(), q.NumUnschedulable())
		}
		q.Refresh(c) // unknown pods are not added by Refresh
		if q.Len() != 0 {
			t.Fatal("Refresh added a pod")
		}
	})
}
