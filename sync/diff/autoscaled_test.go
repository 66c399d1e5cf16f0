package diff_test

import (
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/diff"
)

func TestObjectsIgnoreAutoscaledReplicas(t *testing.T) {
	tests := []struct {
		name   string
		hpa    bool   // an HPA made through the API scales web
		wanted string // the revision's Deployment
		want   []string
	}{
		{name: "without an HPA a replica change shows", wanted: strings.Replace(deployV1, "replicas: 3", "replicas: 5", 1),
			want: []string{"changed Deployment default/web"}},
		{name: "with an HPA a replica change does not show", hpa: true, wanted: strings.Replace(deployV1, "replicas: 3", "replicas: 5", 1)},
		{name: "with an HPA an image change shows", hpa: true, wanted: strings.Replace(deployV1, ":v1", ":v2", 1),
			want: []string{"changed Deployment default/web rollout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.Start(t)
			ctx := t.Context()
			for _, o := range live(t, "deploy/web.yaml", deployV1) {
				o.SetResourceVersion("")
				o.SetUID("")
				if err := s.Create(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			if tt.hpa {
				if err := s.Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
					ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
					Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
						ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
						MaxReplicas:    10,
					},
				}); err != nil {
					t.Fatal(err)
				}
			}
			lv, err := diff.ListLive(ctx, storeLister{s})
			if err != nil {
				t.Fatal(err)
			}
			changes, err := diff.Objects(lv, diff.Desired(decode(t, "deploy/web.yaml", tt.wanted)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range changes {
				g := string(c.Op) + " " + c.ID()
				if c.RollsOut {
					g += " rollout"
				}
				got = append(got, g)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("changes %q, want %q", got, tt.want)
			}
			for _, c := range changes {
				if strings.Contains(string(c.Desired), "replicas: 5") && tt.hpa {
					t.Errorf("the diff shows the replicas an HPA owns:\n%s", c.Desired)
				}
			}
		})
	}
}
