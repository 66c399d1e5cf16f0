package apply_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/sync/apply"
)

const configMaps = `apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: default}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: default}
data: {k: v}
`

// desiredObjects returns the objects of YAML documents as sync writes them
// for commit sha.
func desiredObjects(t *testing.T, sha, yaml string) []api.Object {
	t.Helper()
	var out []api.Object
	for _, m := range decode(t, "deploy/x.yaml", yaml) {
		o, err := apply.Desired(m, sha)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

// asLive turns desired objects into what the store would hold.
func asLive(objs []api.Object) []api.Object {
	out := make([]api.Object, 0, len(objs))
	for _, o := range objs {
		c := o.DeepCopyObject().(api.Object)
		c.SetResourceVersion("7")
		c.SetUID(types.UID("uid-" + o.GetName()))
		out = append(out, c)
	}
	return out
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name          string
		live, desired string
		want          []string // "op Kind ns/name"
	}{
		{name: "nothing live: creates in manifest order", desired: configMaps + "---\n" + deployment(1, "nginx:1"),
			want: []string{"create ConfigMap default/b", "create ConfigMap default/a", "create Deployment default/web"}},
		{name: "unchanged objects are left out", live: configMaps, desired: configMaps},
		{name: "prunes sorted by kind, namespace and name", live: deployment(1, "nginx:1") + "---\n" + configMaps,
			want: []string{"prune ConfigMap default/a", "prune ConfigMap default/b", "prune Deployment default/web"}},
		{name: "content change updates", live: configMaps, desired: strings.Replace(configMaps, "{k: v}", "{k: w}", 1),
			want: []string{"update ConfigMap default/b"}},
		{name: "a manifest without namespace is in default", live: configMaps,
			desired: strings.ReplaceAll(configMaps, ", namespace: default", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var live []api.Object
			if tt.live != "" {
				live = asLive(desiredObjects(t, "aaaa", tt.live))
			}
			var desired []api.Object
			if tt.desired != "" {
				desired = desiredObjects(t, "bbbb", tt.desired)
			}
			liveCopy, desiredCopy := copies(live), copies(desired)
			changes, err := apply.Plan(live, desired)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range changes {
				got = append(got, string(c.Op)+" "+c.ID())
				if (c.Op == apply.Create) != (c.Live == nil) || (c.Op == apply.Prune) != (c.Object == nil) {
					t.Errorf("%s: Live/Object set wrongly: %v / %v", c.ID(), c.Live, c.Object)
				}
				if c.Op == apply.Update {
					if c.Object.GetUID() != c.Live.GetUID() || c.Object.GetAnnotations()[api.AnnotationCommit] != "bbbb" {
						t.Errorf("%s: merged object has uid %q and commit %q, want the live uid and the new commit",
							c.ID(), c.Object.GetUID(), c.Object.GetAnnotations()[api.AnnotationCommit])
					}
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if !equality.Semantic.DeepEqual(live, liveCopy) || !equality.Semantic.DeepEqual(desired, desiredCopy) {
				t.Error("Plan modified its inputs")
			}
		})
	}
}

func copies(objs []api.Object) []api.Object {
	var out []api.Object
	for _, o := range objs {
		out = append(out, o.DeepCopyObject().(api.Object))
	}
	return out
}
