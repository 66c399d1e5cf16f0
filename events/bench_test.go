package events_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
)

// nopSink accepts every write at once.
type nopSink struct{}

func (nopSink) Create(context.Context, api.Object) error { return nil }
func (nopSink) Update(context.Context, api.Object) error { return nil }

// BenchmarkEventf is what recording costs the caller (a scheduler binding
// a pod, an agent starting a container): formatting and queueing, with
// Run draining the queue at the default rate limit (most Events of a
// burst this size are then dropped, as they would be).
func BenchmarkEventf(b *testing.B) {
	for _, distinct := range []bool{false, true} {
		b.Run(fmt.Sprintf("distinct=%v", distinct), func(b *testing.B) {
			r := events.New(events.Config{Sink: nopSink{}, Component: "bench"})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = r.Run(ctx) }()
			ref := events.Ref(testPod())
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if distinct {
					ref.Name = fmt.Sprintf("web-%d", i)
				}
				r.Eventf(ref, corev1.EventTypeNormal, "Scheduled", "Successfully assigned demo/%s to node-%d", ref.Name, i%1000)
			}
			b.ReportMetric(float64(r.Dropped()), "dropped")
		})
	}
}
