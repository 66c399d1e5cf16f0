// Package eventstest helps tests of components that record Events: a
// running Recorder on a store, and finding the Events it wrote.
package eventstest

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/store"
)

// Recorder returns a Recorder of component writing to st, running until
// the test ends, with no rate limit.
func Recorder(tb testing.TB, st *store.Store, component string) *events.Recorder {
	tb.Helper()
	r := events.New(events.Config{Sink: st, Component: component, QPS: 1e6, Burst: 1e6})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	return r
}

// Find returns the Events in namespace (all with "") about an object named
// name (any kind) with reason, oldest first; it fails the test when the
// list fails.
func Find(tb testing.TB, st *store.Store, namespace, name, reason string) []*corev1.Event {
	tb.Helper()
	res, ok := api.Lookup("events")
	if !ok {
		tb.Fatal("eventstest: no events resource")
	}
	objs, _, err := st.List(context.Background(), res, namespace, store.ListOptions{})
	if err != nil {
		tb.Fatalf("eventstest: list events: %v", err)
	}
	var out []*corev1.Event
	for _, o := range objs {
		ev := o.(*corev1.Event)
		if ev.InvolvedObject.Name == name && ev.Reason == reason {
			out = append(out, ev)
		}
	}
	return out
}
