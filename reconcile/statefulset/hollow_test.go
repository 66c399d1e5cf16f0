package statefulset_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/hollow"
	"github.com/bosun-dev/bosun/reconcile/controlplane"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// startHollowCluster runs the control plane's controllers, this package's
// controller (until the control plane wires it), the API server and three
// hollow nodes whose containers take up to 300 ms to start.
func startHollowCluster(t *testing.T) *store.Store {
	t.Helper()
	st := storetest.Start(t)
	// Registered first, so it runs last: Close waits for the agents'
	// watches, which end when ctx does.
	ts := httptest.NewServer(apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(t)}).Handler())
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		if err := controlplane.RunControllers(ctx, controlplane.Config{Store: st, Logger: storetest.Logger(t)}); err != nil && ctx.Err() == nil {
			t.Errorf("controllers: %v", err)
		}
	})
	c, err := client.New(ts.URL, client.WithHTTPClient(hollow.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		cfg := hollow.Config{Nodes: 3, Client: c, StartDelay: 300 * time.Millisecond, Seed: 5, Logger: storetest.Logger(t)}
		if err := hollow.Run(ctx, cfg); err != nil {
			t.Errorf("hollow.Run: %v", err)
		}
	})
	return st
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestHollowOrderedRollout runs an OrderedReady set of 4 on hollow nodes
// (real agents on fake runtimes): at every look, a pod exists only when all
// lower ordinals are Running and Ready, and all four end Ready, spread over
// the nodes.
func TestHollowOrderedRollout(t *testing.T) {
	st := startHollowCluster(t)
	ctx := t.Context()
	n := int32(4)
	lbls := map[string]string{"app": "web"}
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &n, ServiceName: "web", Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways,
					Containers: []corev1.Container{{Name: "app", Image: "bosun.local/hello:v1"}}},
			},
		},
	}
	if err := st.Create(ctx, set); err != nil {
		t.Fatal(err)
	}
	podsR, _ := api.Lookup("pods")
	testutil.EventuallyEvery(t, 30*time.Second, 20*time.Millisecond, "4 pods Ready, created in order", func() (bool, string) {
		objs, _, err := st.List(ctx, podsR, "default", store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]*corev1.Pod{}
		for _, o := range objs {
			byName[o.GetName()] = o.(*corev1.Pod)
		}
		ready := 0
		for i := range int(n) {
			p := byName[fmt.Sprintf("web-%d", i)]
			if p == nil {
				continue
			}
			for j := range i {
				if prev := byName[fmt.Sprintf("web-%d", j)]; prev == nil || !podReady(prev) {
					t.Fatalf("web-%d exists while web-%d is not Running and Ready", i, j)
				}
			}
			if podReady(p) {
				ready++
			}
		}
		return ready == int(n), fmt.Sprintf("%d of %d Ready", ready, n)
	})
	testutil.EventuallyTrue(t, 10*time.Second, "status: 4 ready replicas", func() bool {
		var got appsv1.StatefulSet
		return st.Get(ctx, "default", "web", &got) == nil && got.Status.ReadyReplicas == n && got.Status.AvailableReplicas == n
	})
}
