package apply_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/apply"
)

// hpaFor returns an autoscaling/v2 HPA named name scaling the Deployment target.
func hpaFor(name, target string) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    ptr.To[int32](1),
			MaxReplicas:    10,
		},
	}
}

// withReplicas returns copies of objs with the Deployments' replicas set to n, as an HPA would.
func withReplicas(objs []api.Object, n int32) []api.Object {
	out := copies(objs)
	for _, o := range out {
		if d, ok := o.(*appsv1.Deployment); ok {
			d.Spec.Replicas = ptr.To(n)
		}
	}
	return out
}

func replicasOf(o api.Object) int32 {
	if d, ok := o.(*appsv1.Deployment); ok && d.Spec.Replicas != nil {
		return *d.Spec.Replicas
	}
	return -1
}

func TestPlanKeepsAutoscaledReplicas(t *testing.T) {
	gitDeployment := deployment(2, "nginx:1")
	tests := []struct {
		name     string
		liveHPAs []api.Object // live HPAs sync did not write
		gitHPAs  []api.Object // HPAs in the commit
		image    string       // the commit's image
		want     []string
		replicas int32 // of the planned update, when there is one
	}{
		{name: "no HPA: Git's replicas win", image: "nginx:1", want: []string{"update Deployment default/web"}, replicas: 2},
		{name: "an HPA made through the API owns the replicas: nothing to do",
			liveHPAs: []api.Object{hpaFor("web", "web")}, image: "nginx:1"},
		{name: "an HPA in Git owns the replicas",
			gitHPAs: []api.Object{hpaFor("web", "web")}, image: "nginx:1", want: []string{"create HorizontalPodAutoscaler default/web"}},
		{name: "an image change keeps the HPA's replicas",
			liveHPAs: []api.Object{hpaFor("web", "web")}, image: "nginx:2", want: []string{"update Deployment default/web"}, replicas: 5},
		{name: "an HPA of another Deployment changes nothing here",
			liveHPAs: []api.Object{hpaFor("api", "api")}, image: "nginx:1", want: []string{"update Deployment default/web"}, replicas: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := withReplicas(asLive(desiredObjects(t, "aaaa", gitDeployment)), 5)
			live = append(live, tt.liveHPAs...)
			desired := desiredObjects(t, "bbbb", deployment(2, tt.image))
			for _, h := range tt.gitHPAs {
				o, err := apply.Desired(manifests.Object{Obj: h, File: "deploy/hpa.yaml", Line: 1}, "bbbb")
				if err != nil {
					t.Fatal(err)
				}
				desired = append(desired, o)
			}
			changes, err := apply.Plan(live, desired)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range changes {
				got = append(got, string(c.Op)+" "+c.ID())
				if c.Op == apply.Update && c.Resource.Kind == "Deployment" {
					if r := replicasOf(c.Object); r != tt.replicas {
						t.Errorf("planned replicas %d, want %d", r, tt.replicas)
					}
				}
			}
			if len(got) != len(tt.want) || len(got) > 0 && got[0] != tt.want[0] {
				t.Errorf("plan %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApplyKeepsAutoscaledReplicas(t *testing.T) {
	s := storetest.Start(t)
	a := apply.New(s, nil)
	ctx := t.Context()
	if _, err := a.Apply(ctx, apply.Input{Commit: commit("c1"), Objects: decode(t, "d.yaml", deployment(2, "nginx:1"))}); err != nil {
		t.Fatal(err)
	}
	if r := *getDeployment(t, s).Spec.Replicas; r != 2 {
		t.Fatalf("created with %d replicas, want Git's 2", r)
	}
	// kubectl autoscale, then the HPA scales the Deployment to 5.
	if err := s.Create(ctx, hpaFor("web", "web")); err != nil {
		t.Fatal(err)
	}
	d := getDeployment(t, s)
	d.Spec.Replicas = ptr.To[int32](5)
	if err := s.Update(ctx, d); err != nil {
		t.Fatal(err)
	}

	att, err := a.Apply(ctx, apply.Input{Commit: commit("c2"), Objects: decode(t, "d.yaml", deployment(2, "nginx:2"))})
	if err != nil {
		t.Fatal(err)
	}
	d = getDeployment(t, s)
	if *d.Spec.Replicas != 5 || d.Spec.Template.Spec.Containers[0].Image != "nginx:2" {
		t.Errorf("after a commit changing the image: replicas %d image %s, want the HPA's 5 and nginx:2", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	}
	if att.Updated != 1 || att.Pruned != 0 {
		t.Errorf("attempt updated %d pruned %d, want 1 and 0 (the HPA is not sync's to prune)", att.Updated, att.Pruned)
	}
	att, err = a.Apply(ctx, apply.Input{Commit: commit("c3"), Objects: decode(t, "d.yaml", deployment(2, "nginx:2"))})
	if err != nil {
		t.Fatal(err)
	}
	if att.Updated != 0 {
		t.Errorf("a resync updated %d objects, want 0: the HPA's replicas are not drift", att.Updated)
	}

	// Without the HPA, Git's count is the desired state again.
	if err := s.Delete(ctx, res(t, "horizontalpodautoscalers"), "default", "web", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, apply.Input{Commit: commit("c4"), Objects: decode(t, "d.yaml", deployment(2, "nginx:2"))}); err != nil {
		t.Fatal(err)
	}
	if r := *getDeployment(t, s).Spec.Replicas; r != 2 {
		t.Errorf("replicas %d once the HPA is gone, want Git's 2", r)
	}
}

func res(t *testing.T, name string) api.Resource {
	t.Helper()
	r, ok := api.Lookup(name)
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	return r
}

// An HPA made through the API is not among "the objects of earlier
// commits": an empty first commit is not refused because of it, and it
// is not pruned.
func TestApplyEmptyCommitWithAnAPIHPA(t *testing.T) {
	s := storetest.Start(t)
	ctx := t.Context()
	if err := s.Create(ctx, hpaFor("web", "web")); err != nil {
		t.Fatal(err)
	}
	att, err := apply.New(s, nil).Apply(ctx, apply.Input{Commit: commit("e1")})
	if err != nil {
		t.Fatalf("empty commit with only an API-made HPA live: %v", err)
	}
	if att.Pruned != 0 {
		t.Errorf("pruned %d, want 0", att.Pruned)
	}
	var h autoscalingv2.HorizontalPodAutoscaler
	if err := s.Get(ctx, "default", "web", &h); err != nil {
		t.Errorf("the HPA: %v", err)
	}
}
