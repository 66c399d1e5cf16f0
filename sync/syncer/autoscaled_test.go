package syncer_test

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// TestResyncLeavesAutoscaledReplicas: the replicas an HPA set are not drift:
// a resync of the same commit writes nothing and keeps them, and a commit
// changing Git's count does not fight the HPA either.
func TestResyncLeavesAutoscaledReplicas(t *testing.T) {
	s := storetest.Start(t)
	g := newGitRepo(t)
	c1 := g.commit("web", map[string]string{"deploy/web.yaml": deployment("web", 2)})
	sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Repo: "test", Path: "deploy",
		Resync: time.Nanosecond, Recorder: eventstest.Recorder(t, s, "bosun-sync")})
	mustSync(t, sy, c1, state.ResultApplied)
	if got := replicas(t, s, "web"); got != 2 {
		t.Fatalf("created with %d replicas, want Git's 2", got)
	}

	// kubectl autoscale deploy/web; the HPA scales it to 6.
	ctx := t.Context()
	if err := s.Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    10,
		},
	}); err != nil {
		t.Fatal(err)
	}
	scaleTo(t, s, 6)

	mustSync(t, sy, c1, state.ResultApplied) // a resync of the same commit
	if got := replicas(t, s, "web"); got != 6 {
		t.Errorf("after a resync: %d replicas, want the HPA's 6", got)
	}
	h, err := records.ReadHistory(ctx, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 {
		t.Errorf("history has %d entries after a resync, want 1 (nothing drifted)", len(h))
	}

	c2 := g.commit("web: 3", map[string]string{"deploy/web.yaml": deployment("web", 3)})
	mustSync(t, sy, c2, state.ResultApplied)
	if got := replicas(t, s, "web"); got != 6 {
		t.Errorf("after Git's count changed: %d replicas, want the HPA's 6", got)
	}
}

// scaleTo writes the Deployment web's replicas as the HPA controller does.
func scaleTo(t *testing.T, s *store.Store, n int32) {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := s.Get(t.Context(), "default", "web", d); err != nil {
		t.Fatal(err)
	}
	d.Spec.Replicas = &n
	if err := s.Update(t.Context(), d); err != nil {
		t.Fatal(err)
	}
}
