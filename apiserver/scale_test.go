package apiserver_test

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/apiserver"
)

func TestScale(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	seed(e)
	web := deployment("default", "web", nil, true)
	if err := e.st.Get(ctx(t), "default", "web", web); err != nil {
		t.Fatal(err)
	}
	web.Status.Replicas = 1
	if err := e.st.Update(ctx(t), web); err != nil {
		t.Fatal(err)
	}
	e.create(&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1"},
		Spec: appsv1.ReplicaSetSpec{Replicas: int32p(3), Selector: &metav1.LabelSelector{
			MatchLabels:      map[string]string{"app": "web"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}}}})
	e.create(&corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "old"},
		Spec: corev1.ReplicationControllerSpec{Replicas: int32p(0), Selector: map[string]string{"app": "old"}}})
	e.create(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: int32p(4), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}})

	t.Run("get", func(t *testing.T) {
		tests := []struct {
			path             string
			spec, status     int32
			selector, name   string
			resourceVersions bool
		}{
			{"/apis/apps/v1/namespaces/default/deployments/web/scale", 2, 1, "app=web", "web", true},
			{"/apis/apps/v1/namespaces/default/replicasets/web-1/scale", 3, 0, "app=web,tier in (a,b)", "web-1", true},
			{"/api/v1/namespaces/default/replicationcontrollers/old/scale", 0, 0, "app=old", "old", true},
			{"/apis/apps/v1/namespaces/default/statefulsets/db/scale", 4, 0, "app=db", "db", true},
		}
		for _, tt := range tests {
			code, body := e.do("GET", tt.path, nil)
			if code != 200 {
				t.Fatalf("GET %s = %d %s", tt.path, code, body)
			}
			var sc autoscalingv1.Scale
			if err := json.Unmarshal(body, &sc); err != nil {
				t.Fatal(err)
			}
			if sc.Kind != "Scale" || sc.APIVersion != "autoscaling/v1" || sc.Name != tt.name || sc.Namespace != "default" ||
				sc.ResourceVersion == "" || sc.Spec.Replicas != tt.spec || sc.Status.Replicas != tt.status || sc.Status.Selector != tt.selector {
				t.Errorf("GET %s = %s", tt.path, body)
			}
		}
	})

	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"put of a Git object", "PUT", "/apis/apps/v1/namespaces/default/deployments/web/scale",
			`{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":5}}`, 403,
			"deployments default/web is managed by Git: change apps/web.yaml (line 3) in the repository and commit; it was synced from commit 1a2b3c4d; to scale it, run `bosun scale deployment/web -n default --replicas=N`, which commits the change"},
		{"patch of a Git object", "PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", `{"spec":{"replicas":5}}`, 403,
			`"reason":"Forbidden"`},
		{"put of an object not from Git", "PUT", "/apis/apps/v1/namespaces/default/deployments/api/scale", `{}`, 403,
			"Deployment default/api is not from Git, and the API changes no deployments"},
		{"missing object", "GET", "/apis/apps/v1/namespaces/default/deployments/nope/scale", "", 404, `deployments \"nope\" not found`},
		{"delete", "DELETE", "/apis/apps/v1/namespaces/default/deployments/web/scale", "", 405, "is read with GET"},
		{"no scale on pods", "GET", "/api/v1/namespaces/default/pods/x/scale", "", 404, "could not find the requested resource"},
		{"no eviction on deployments", "POST", "/apis/apps/v1/namespaces/default/deployments/web/eviction", "{}", 404, "could not find the requested resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			code, out := e.do(tt.method, tt.path, body, "Content-Type", "application/merge-patch+json")
			if code != tt.code || !strings.Contains(string(out), tt.want) {
				t.Fatalf("%s %s = %d %s\nwant %d containing %s", tt.method, tt.path, code, out, tt.code, tt.want)
			}
		})
	}
	var d appsv1.Deployment
	if err := e.st.Get(ctx(t), "default", "web", &d); err != nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas after refused writes: %v, %v", d.Spec.Replicas, err)
	}
}

// TestDiscoverySubresources: kubectl scale and drain find the scale and
// eviction subresources, with their kinds, in discovery.
func TestDiscoverySubresources(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	for _, tc := range []struct{ path, name, gv, kind string }{
		{"/apis/apps/v1", "deployments/scale", "autoscaling/v1", "Scale"},
		{"/apis/apps/v1", "replicasets/scale", "autoscaling/v1", "Scale"},
		{"/apis/apps/v1", "statefulsets/scale", "autoscaling/v1", "Scale"},
		{"/api/v1", "replicationcontrollers/scale", "autoscaling/v1", "Scale"},
		{"/api/v1", "pods/eviction", "policy/v1", "Eviction"},
		{"/apis/policy/v1", "poddisruptionbudgets", "", "PodDisruptionBudget"},
	} {
		_, body := e.do("GET", tc.path, nil)
		var list metav1.APIResourceList
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range list.APIResources {
			gv := ""
			if r.Group != "" || r.Version != "" {
				gv = r.Group + "/" + r.Version
			}
			if r.Name == tc.name && gv == tc.gv && r.Kind == tc.kind {
				found = true
			}
		}
		if !found {
			t.Errorf("%s lacks %s (%s %s): %s", tc.path, tc.name, tc.gv, tc.kind, body)
		}
	}
}
