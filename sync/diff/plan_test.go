package diff_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/apply"
	"github.com/bosun-dev/bosun/sync/diff"
	"github.com/bosun-dev/bosun/sync/state"
)

// storeLister lists straight from the store, as the API would serve it.
type storeLister struct{ s *store.Store }

func (l storeLister) List(ctx context.Context, r api.Resource, ns, selector string) ([]api.Object, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, err
	}
	objs, _, err := l.s.List(ctx, r, ns, store.ListOptions{Selector: sel})
	return objs, err
}

// file is one manifest file of a commit.
type file struct{ path, yaml string }

func webDeployment(replicas int, image, extraLabels string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels:
    app: web%s
spec:
  replicas: %d
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: %s
`, extraLabels, replicas, image)
}

func webService(targetPort int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
    targetPort: %d
`, targetPort)
}

func settings(namespace, labels string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: %s%s
data:
  color: blue
`, namespace, labels)
}

func probePod(image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: probe
  namespace: default
spec:
  containers:
  - name: probe
    image: %s
`, image)
}

func dbSecret(password string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: default
stringData:
  password: %s
`, password)
}

const stagingNamespace = `apiVersion: v1
kind: Namespace
metadata:
  name: staging
`

const extraConfig = `apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
  namespace: default
data:
  size: large
`

// baseCommit is the first commit of every pair; with changes it builds the
// second (path -> content; "" removes the file).
func baseCommit(changes map[string]string) []file {
	files := []file{
		{"deploy/web.yaml", webDeployment(2, "bosun.local/hello:v1", "")},
		{"deploy/svc.yaml", webService(8080)},
		{"deploy/config.yaml", settings("default", "\n  labels: {team: blue}")},
		{"deploy/probe.yaml", probePod("busybox:1.36")},
		{"deploy/secret.yaml", dbSecret("hunter2")},
	}
	var out []file
	for _, f := range files {
		if c, ok := changes[f.path]; ok {
			if c != "" {
				out = append(out, file{f.path, c})
			}
			delete(changes, f.path)
			continue
		}
		out = append(out, f)
	}
	for p, c := range changes {
		out = append(out, file{p, c})
	}
	return out
}

func decodeFiles(t *testing.T, files []file) []manifests.Object {
	t.Helper()
	var out []manifests.Object
	for _, f := range files {
		out = append(out, decode(t, f.path, f.yaml)...)
	}
	return out
}

// controlPlane does what controllers and the scheduler do to the objects
// of a synced commit: status, the Deployment's revision annotation, the
// Service's allocations, the Pod's binding.
func controlPlane(t *testing.T, s *store.Store) {
	t.Helper()
	storetest.Modify(t, s, "default", "web", &appsv1.Deployment{}, func(d *appsv1.Deployment) {
		d.Annotations["deployment.kubernetes.io/revision"] = "1"
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	})
	storetest.Modify(t, s, "default", "web", &corev1.Service{}, func(svc *corev1.Service) {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
		svc.Spec.Ports[0].NodePort = 30080
	})
	storetest.Modify(t, s, "default", "probe", &corev1.Pod{}, func(pod *corev1.Pod) {
		pod.Spec.NodeName = "node-1"
		pod.Status.Phase = corev1.PodRunning
	})
}

// snapshot returns every object of every kind Git may define, by ID.
func snapshot(t *testing.T, s *store.Store) map[string]api.Object {
	t.Helper()
	out := map[string]api.Object{}
	for _, r := range apply.GitResources() {
		objs, _, err := s.List(t.Context(), r, "", store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			out[objectID(r.Kind, o.GetNamespace(), o.GetName())] = o
		}
	}
	return out
}

func objectID(kind, ns, name string) string {
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

// liveOwned is what the control plane owns of obj and sync must keep.
func liveOwned(t *testing.T, obj api.Object) string {
	t.Helper()
	var kept []any
	if st := reflect.ValueOf(obj).Elem().FieldByName("Status"); st.IsValid() {
		kept = append(kept, st.Interface())
	}
	for k, v := range obj.GetAnnotations() {
		if strings.HasPrefix(k, "deployment.kubernetes.io/") {
			kept = append(kept, k+"="+v)
		}
	}
	switch o := obj.(type) {
	case *corev1.Service:
		kept = append(kept, o.Spec.ClusterIP, o.Spec.ClusterIPs)
		for _, p := range o.Spec.Ports {
			kept = append(kept, p.NodePort)
		}
	case *corev1.Pod:
		kept = append(kept, o.Spec.NodeName)
	}
	b, err := yaml.Marshal(kept)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func normalizedYAML(t *testing.T, obj api.Object) string {
	t.Helper()
	m, err := diff.Normalize(obj)
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var diffToPlan = map[diff.Op]apply.Op{diff.Added: apply.Create, diff.Changed: apply.Update, diff.Pruned: apply.Prune}

// TestDiffMatchesApply runs pairs of commits through both `bosun diff` and
// sync: the first commit is applied to a real embedded etcd and worked on by
// a simulated control plane; then the diff of the second commit is taken
// against the live state, the second commit is applied, and what changed in
// etcd is compared with what the diff (and the plan under it) named.
func TestDiffMatchesApply(t *testing.T) {
	tests := []struct {
		name   string
		second map[string]string // changes to the first commit's files
		// want is what the apply changes in etcd: "op Kind ns/name".
		want []string
		// bookkeeping are updates that change only bosun.dev/source: the
		// diff does not show them.
		bookkeeping []string
		rollsOut    []string // Deployments the diff says roll out
	}{
		{name: "unchanged", second: map[string]string{}},
		{name: "replicas change",
			second: map[string]string{"deploy/web.yaml": webDeployment(5, "bosun.local/hello:v1", "")},
			want:   []string{"update Deployment default/web"}},
		{name: "image change",
			second:   map[string]string{"deploy/web.yaml": webDeployment(2, "bosun.local/hello:v2", "")},
			want:     []string{"update Deployment default/web"},
			rollsOut: []string{"Deployment default/web"}},
		{name: "label added",
			second: map[string]string{"deploy/web.yaml": webDeployment(2, "bosun.local/hello:v1", "\n    tier: frontend")},
			want:   []string{"update Deployment default/web"}},
		{name: "label removed",
			second: map[string]string{"deploy/config.yaml": settings("default", "")},
			want:   []string{"update ConfigMap default/settings"}},
		{name: "object added",
			second: map[string]string{"deploy/extra.yaml": extraConfig},
			want:   []string{"create ConfigMap default/extra"}},
		{name: "object removed is pruned",
			second: map[string]string{"deploy/svc.yaml": ""},
			want:   []string{"prune Service default/web"}},
		{name: "controller-owned fields kept while specs change",
			second: map[string]string{"deploy/svc.yaml": webService(9090), "deploy/probe.yaml": probePod("busybox:1.37")},
			want:   []string{"update Pod default/probe", "update Service default/web"}},
		{name: "namespace change",
			second: map[string]string{"deploy/config.yaml": settings("staging", "\n  labels: {team: blue}"), "deploy/ns.yaml": stagingNamespace},
			want:   []string{"create ConfigMap staging/settings", "create Namespace staging", "prune ConfigMap default/settings"}},
		{name: "secret value change",
			second: map[string]string{"deploy/secret.yaml": dbSecret("hunter3")},
			want:   []string{"update Secret default/db"}},
		{name: "manifest moved to another file",
			second:      map[string]string{"deploy/config.yaml": "", "deploy/settings.yaml": settings("default", "\n  labels: {team: blue}")},
			want:        []string{"update ConfigMap default/settings"},
			bookkeeping: []string{"update ConfigMap default/settings"}},
		{name: "everything removed",
			second: map[string]string{"deploy/web.yaml": "", "deploy/svc.yaml": "", "deploy/config.yaml": "", "deploy/probe.yaml": "", "deploy/secret.yaml": ""},
			want: []string{"prune ConfigMap default/settings", "prune Deployment default/web", "prune Pod default/probe",
				"prune Secret default/db", "prune Service default/web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.Start(t)
			ctx := t.Context()
			a := apply.New(s, nil)
			commit := func(sha string) state.CommitInfo {
				return state.CommitInfo{SHA: sha, Subject: tt.name, Time: time.Unix(1700000000, 0).UTC()}
			}
			if _, err := a.Apply(ctx, apply.Input{Commit: commit("1111111111"), Objects: decodeFiles(t, baseCommit(nil))}); err != nil {
				t.Fatalf("apply first commit: %v", err)
			}
			controlPlane(t, s)
			before := snapshot(t, s)

			second := decodeFiles(t, baseCommit(tt.second))
			live, err := diff.ListLive(ctx, storeLister{s})
			if err != nil {
				t.Fatal(err)
			}
			changes, err := diff.Objects(live, diff.Desired(second))
			if err != nil {
				t.Fatal(err)
			}
			plan, err := apply.Plan(live, diff.Desired(second))
			if err != nil {
				t.Fatal(err)
			}
			att, err := a.Apply(ctx, apply.Input{Commit: commit("2222222222"), Objects: second, AllowEmpty: true})
			if err != nil {
				t.Fatalf("apply second commit: %v", err)
			}
			after := snapshot(t, s)

			// What the apply changed in etcd. A running pod pruned is
			// marked terminating (its agent removes it), not removed.
			var applied []string
			for id, b := range before {
				switch o, ok := after[id]; {
				case !ok, o.GetDeletionTimestamp() != nil && b.GetDeletionTimestamp() == nil:
					applied = append(applied, "prune "+id)
				case o.GetResourceVersion() != b.GetResourceVersion():
					applied = append(applied, "update "+id)
				}
			}
			for id := range after {
				if _, ok := before[id]; !ok {
					applied = append(applied, "create "+id)
				}
			}
			slices.Sort(applied)
			if !slices.Equal(applied, tt.want) {
				t.Fatalf("the apply changed %q, want %q", applied, tt.want)
			}
			if n := len(applied); att.Created+att.Updated+att.Pruned != n {
				t.Errorf("attempt counts created/updated/pruned = %d/%d/%d, etcd changed %d objects", att.Created, att.Updated, att.Pruned, n)
			}

			var planned []string
			for _, p := range plan {
				planned = append(planned, string(p.Op)+" "+p.ID())
			}
			slices.Sort(planned)
			if !slices.Equal(planned, applied) {
				t.Errorf("the plan named %q, the apply changed %q", planned, applied)
			}

			var shown, rollsOut []string
			for _, c := range changes {
				shown = append(shown, string(diffToPlan[c.Op])+" "+c.ID())
				if c.RollsOut {
					rollsOut = append(rollsOut, c.ID())
				}
				switch c.Op {
				case diff.Added:
					if got := normalizedYAML(t, after[c.ID()]); got != string(c.Desired) {
						t.Errorf("%s: the diff shows\n%s\netcd holds\n%s", c.ID(), c.Desired, got)
					}
				case diff.Changed:
					if got := normalizedYAML(t, before[c.ID()]); got != string(c.Live) {
						t.Errorf("%s: the diff shows as live\n%s\netcd held\n%s", c.ID(), c.Live, got)
					}
					if got := normalizedYAML(t, after[c.ID()]); got != string(c.Desired) {
						t.Errorf("%s: the diff shows as desired\n%s\netcd holds\n%s", c.ID(), c.Desired, got)
					}
				case diff.Pruned:
					if got := normalizedYAML(t, before[c.ID()]); got != string(c.Live) {
						t.Errorf("%s: the diff shows as live\n%s\netcd held\n%s", c.ID(), c.Live, got)
					}
				}
			}
			slices.Sort(shown)
			wantShown := slices.DeleteFunc(slices.Clone(applied), func(s string) bool { return slices.Contains(tt.bookkeeping, s) })
			if !slices.Equal(shown, wantShown) {
				t.Errorf("the diff named %q, the apply changed %q (of which bookkeeping only: %q)", shown, applied, tt.bookkeeping)
			}
			slices.Sort(rollsOut)
			if !slices.Equal(rollsOut, tt.rollsOut) {
				t.Errorf("the diff says %q roll out, want %q", rollsOut, tt.rollsOut)
			}
			for _, b := range tt.bookkeeping {
				id := strings.TrimPrefix(b, "update ")
				if normalizedYAML(t, before[id]) != normalizedYAML(t, after[id]) {
					t.Errorf("%s: expected a bookkeeping-only update, but what sync owns changed", id)
				}
				if before[id].GetAnnotations()[api.AnnotationSource] == after[id].GetAnnotations()[api.AnnotationSource] {
					t.Errorf("%s: bosun.dev/source did not change", id)
				}
			}
			for id, b := range before {
				if o, ok := after[id]; ok && liveOwned(t, b) != liveOwned(t, o) {
					t.Errorf("%s: the apply did not keep what the control plane owns:\nbefore %s\nafter  %s", id, liveOwned(t, b), liveOwned(t, o))
				}
			}
		})
	}
}
