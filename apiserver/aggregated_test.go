package apiserver_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/bosun-dev/bosun/apiserver"
)

// TestAggregatedDiscovery: /api and /apis answer aggregated discovery v2
// when asked (as kubectl 1.30+ and client-go do), and client-go's
// discovery client, which uses it, finds the same groups, resources, verbs,
// short names, categories and subresources as the per-group-version lists.
func TestAggregatedDiscovery(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	for _, path := range []string{"/api", "/apis"} {
		req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, e.url+path, nil)
		req.Header.Set("Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list apidiscoveryv2.APIGroupDiscoveryList
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || resp.Header.Get("Content-Type") != "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" ||
			list.Kind != "APIGroupDiscoveryList" || len(list.Items) == 0 {
			t.Fatalf("GET %s (aggregated): %s, %v, %+v", path, resp.Header.Get("Content-Type"), err, list)
		}
	}

	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: e.url})
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		gv, name, kind, verbs, short, cats string
	}
	flatten := func(ls []*metav1.APIResourceList) []res {
		var out []res
		for _, l := range ls {
			for _, r := range l.APIResources {
				v := slices.Clone([]string(r.Verbs))
				sort.Strings(v)
				out = append(out, res{l.GroupVersion, r.Name, r.Kind, join(v), join(r.ShortNames), join(r.Categories)})
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].gv+"/"+out[i].name < out[j].gv+"/"+out[j].name })
		return out
	}
	got := flatten(lists)
	// The legacy lists, one request per group-version.
	var legacy []*metav1.APIResourceList
	for _, gv := range []string{"v1", "apps/v1", "batch/v1", "autoscaling/v2", "discovery.k8s.io/v1", "coordination.k8s.io/v1", "policy/v1", "events.k8s.io/v1", "metrics.k8s.io/v1beta1"} {
		l, err := dc.ServerResourcesForGroupVersion(gv)
		if err != nil {
			t.Fatal(err)
		}
		legacy = append(legacy, l)
	}
	want := flatten(legacy)
	if !slices.Equal(got, want) {
		t.Errorf("aggregated discovery:\n%v\nlegacy discovery:\n%v", got, want)
	}
	if !slices.ContainsFunc(got, func(r res) bool { return r.name == "deployments/scale" }) ||
		!slices.ContainsFunc(got, func(r res) bool { return r.name == "pods" && r.cats == "all" && r.short == "po" }) {
		t.Errorf("aggregated discovery lacks deployments/scale, or pods' short name and category: %v", got)
	}
}

func join(s []string) string { return strings.Join(s, ",") }
