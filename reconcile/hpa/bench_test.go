package hpa

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/store/storetest"
)

// BenchmarkDecisionLatency measures, on the real store and clock with the
// default 15 s sync period, the time from the pods' cpu crossing the target
// (fake metrics jump from 50% to 90% of requests) to the target's new
// spec.replicas being written. The spike comes at a random moment of the
// period (seed logged), as load does. Kubernetes' bound is one sync period.
//
//	go test -run '^$' -bench DecisionLatency -benchtime 5x ./reconcile/hpa/
func BenchmarkDecisionLatency(b *testing.B) {
	s := storetest.Start(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inf := cache.NewInformers(s, storetest.Logger(b))
	realClock := clock.RealClock{}
	m := newFakeMetrics(realClock.Now)
	c := New(Config{Writer: s, Getter: s, Informers: inf, Metrics: m, Logger: storetest.Logger(b)})
	inf.Start(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(s.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: appLabels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}},
	}))
	for i := range 2 {
		p := testPod(fmt.Sprintf("web-%d", i), 200)
		started := metav1.NewTime(realClock.Now().Add(-10 * time.Minute))
		p.Status.StartTime, p.Status.Conditions[0].LastTransitionTime = &started, started
		must(s.Create(ctx, p))
		m.set(p.Name, appLabels, 100) // 50%: on target
	}
	// No scale-down window, so that resetting the size between samples sticks.
	must(s.Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 100,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)}},
		},
	}))
	seed := uint64(time.Now().UnixNano())
	b.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	replicas := func() int32 {
		var d appsv1.Deployment
		must(s.Get(ctx, "default", "web", &d))
		return *d.Spec.Replicas
	}
	var samples []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for i := range 2 {
			m.set(fmt.Sprintf("web-%d", i), appLabels, 100)
		}
		var d appsv1.Deployment
		must(s.Get(ctx, "default", "web", &d))
		d.Spec.Replicas = ptr.To[int32](2)
		must(s.Update(ctx, &d))
		time.Sleep(time.Duration(rng.Int64N(int64(DefaultSyncPeriod)))) // a random moment of the period
		b.StartTimer()
		start := time.Now()
		for i := range 2 {
			m.set(fmt.Sprintf("web-%d", i), appLabels, 180) // 90%: 4 replicas
		}
		for replicas() == 2 {
			if time.Since(start) > 3*DefaultSyncPeriod {
				b.Fatalf("no rescale %v after the metric crossed the target", time.Since(start))
			}
			time.Sleep(5 * time.Millisecond)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(samples)
	median := samples[len(samples)/2]
	b.ReportMetric(median.Seconds(), "s-median")
	b.ReportMetric(samples[len(samples)-1].Seconds(), "s-max")
	b.Logf("decision latency over %d samples: median %v, max %v (sync period %v): %v", len(samples), median, samples[len(samples)-1], DefaultSyncPeriod, samples)
}
