package podgc_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile/podgc"
	"github.com/bosun-dev/bosun/store/storetest"
)

func TestPass(t *testing.T) {
	// The store stamps creationTimestamp itself: give it the time each pod
	// should have been created at.
	var createdAt time.Time
	s := storetest.StartAt(t, func() time.Time { return createdAt })
	ctx := t.Context()
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	mk := func(name, node string, phase corev1.PodPhase, created time.Time, terminating bool) {
		createdAt = created
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "x"}}},
			Status: corev1.PodStatus{Phase: phase}}
		if terminating {
			p.DeletionTimestamp = &metav1.Time{Time: created}
		}
		if err := s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "live"}}); err != nil {
		t.Fatal(err)
	}
	t0 := clk.Now()
	mk("on-live", "live", corev1.PodRunning, t0, false)
	mk("terminating-on-live", "live", corev1.PodRunning, t0, true)
	mk("orphan", "gone", corev1.PodRunning, t0, false)
	mk("orphan-terminating", "gone", corev1.PodRunning, t0, true)
	mk("unbound-terminating", "", corev1.PodPending, t0, true)
	mk("unbound", "", corev1.PodPending, t0, false)
	for i := range 4 {
		mk(fmt.Sprintf("done-%d", i), "live", corev1.PodSucceeded, t0.Add(time.Duration(i)*time.Minute), false)
	}
	inf := cache.NewInformers(s, storetest.Logger(t))
	c := podgc.New(podgc.Config{Writer: s, Getter: s, Informers: inf, Clock: clk, TerminatedPodThreshold: 2, Logger: storetest.Logger(t)})
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	exists := func(name string) bool {
		err := s.Get(ctx, "default", name, &corev1.Pod{})
		if err != nil && !errors.Is(err, api.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	c.Pass(ctx)
	for name, want := range map[string]bool{"unbound-terminating": false, "done-0": false, "done-1": false, "done-2": true, "done-3": true,
		"orphan": true, "orphan-terminating": true, "on-live": true, "terminating-on-live": true, "unbound": true} {
		if got := exists(name); got != want {
			t.Errorf("after the first pass: %s exists = %v, want %v", name, got, want)
		}
	}
	// The missing node's pods go only after the quarantine.
	clk.Step(podgc.DefaultQuarantine - time.Second)
	c.Pass(ctx)
	if !exists("orphan") {
		t.Fatal("orphan removed before the quarantine ended")
	}
	clk.Step(2 * time.Second)
	testutil.EventuallyTrue(t, 10*time.Second, "orphans removed after the quarantine", func() bool {
		c.Pass(ctx)
		return !exists("orphan") && !exists("orphan-terminating")
	})
	for _, name := range []string{"on-live", "terminating-on-live", "unbound", "done-2", "done-3"} {
		if !exists(name) {
			t.Errorf("%s removed, want it kept", name)
		}
	}
}

// A node that comes back within the quarantine keeps its pods.
func TestNodeBackInQuarantine(t *testing.T) {
	s := storetest.Start(t)
	ctx := t.Context()
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p"},
		Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	if err := s.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	inf := cache.NewInformers(s, storetest.Logger(t))
	c := podgc.New(podgc.Config{Writer: s, Getter: s, Informers: inf, Clock: clk, Logger: storetest.Logger(t)})
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	c.Pass(ctx) // n is missing from now
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	if err := s.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the node cached", func() bool {
		_, ok := inf.ForKind("nodes").Get("", "n")
		return ok
	})
	clk.Step(time.Hour)
	if n := c.Pass(ctx); n != 0 {
		t.Errorf("removed %d pods of a node that came back", n)
	}
}
