package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

var fixedNow = time.Date(2026, 11, 1, 12, 30, 45, 123456789, time.UTC)

// newStore starts an embedded etcd and returns a store with a fixed clock.
func newStore(t *testing.T) (*store.Store, *store.Embedded) {
	t.Helper()
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	opts := e.StoreOptions()
	opts.Now = func() time.Time { return fixedNow }
	return store.New(e.Client(), opts), e
}

func rvOf(t *testing.T, o api.Object) int64 {
	t.Helper()
	n, err := strconv.ParseInt(o.GetResourceVersion(), 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q of %s: %v", o.GetResourceVersion(), o.GetName(), err)
	}
	return n
}

func deployment(ns, name string, replicas int32, lbls map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}}},
			},
		},
	}
}

func pod(ns, name string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}}},
	}
}

func TestCRUDRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	tests := []struct {
		name    string
		obj     api.Object
		key     string
		gen     int64
		mutate  func(api.Object)
		wantGen int64 // generation after mutate
		check   func(t *testing.T, got api.Object)
	}{
		{
			name: "pod", obj: pod("", "web-1", map[string]string{"app": "web"}),
			key: "/registry/pods/default/web-1", gen: 1,
			mutate:  func(o api.Object) { o.(*corev1.Pod).Spec.Containers[0].Image = "example/app:2" },
			wantGen: 2,
			check: func(t *testing.T, got api.Object) {
				if img := got.(*corev1.Pod).Spec.Containers[0].Image; img != "example/app:2" {
					t.Errorf("image = %q", img)
				}
			},
		},
		{
			name: "configmap has no spec", obj: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "cfg"}, Data: map[string]string{"a": "1"}},
			key: "/registry/configmaps/kube-system/cfg", gen: 0,
			mutate:  func(o api.Object) { o.(*corev1.ConfigMap).Data["a"] = "2" },
			wantGen: 0,
			check: func(t *testing.T, got api.Object) {
				if v := got.(*corev1.ConfigMap).Data["a"]; v != "2" {
					t.Errorf("data a = %q", v)
				}
			},
		},
		{
			name: "cluster-scoped namespace drops a namespace", obj: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Namespace: "ignored", Name: "team-a"}},
			key: "/registry/namespaces/team-a", gen: 1,
			mutate:  func(o api.Object) { o.SetLabels(map[string]string{"team": "a"}) },
			wantGen: 1,
			check: func(t *testing.T, got api.Object) {
				if got.GetLabels()["team"] != "a" || got.GetNamespace() != "" {
					t.Errorf("labels %v namespace %q", got.GetLabels(), got.GetNamespace())
				}
			},
		},
		{
			name: "deployment", obj: deployment("prod", "api", 2, nil),
			key: "/registry/deployments/prod/api", gen: 1,
			mutate:  func(o api.Object) { r := int32(5); o.(*appsv1.Deployment).Spec.Replicas = &r },
			wantGen: 2,
			check: func(t *testing.T, got api.Object) {
				if r := *got.(*appsv1.Deployment).Spec.Replicas; r != 5 {
					t.Errorf("replicas = %d", r)
				}
			},
		},
		{
			name: "node status only", obj: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
			key: "/registry/nodes/n1", gen: 1,
			mutate: func(o api.Object) {
				o.(*corev1.Node).Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
			},
			wantGen: 1,
			check: func(t *testing.T, got api.Object) {
				if len(got.(*corev1.Node).Status.Conditions) != 1 {
					t.Errorf("conditions %v", got.(*corev1.Node).Status.Conditions)
				}
			},
		},
		{
			name: "lease", obj: &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-node-lease", Name: "n1"}},
			key: "/registry/leases/kube-node-lease/n1", gen: 1,
			mutate:  func(o api.Object) { h := "n1"; o.(*coordinationv1.Lease).Spec.HolderIdentity = &h },
			wantGen: 2,
			check: func(t *testing.T, got api.Object) {
				if h := got.(*coordinationv1.Lease).Spec.HolderIdentity; h == nil || *h != "n1" {
					t.Errorf("holder %v", h)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := api.ResourceOf(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			obj := tc.obj
			obj.SetResourceVersion("999") // ignored by create
			if err := s.Create(ctx, obj); err != nil {
				t.Fatalf("create: %v", err)
			}
			if k := s.Key(r, obj.GetNamespace(), obj.GetName()); k != tc.key {
				t.Fatalf("key = %q, want %q", k, tc.key)
			}
			raw, modRev, err := s.GetRaw(ctx, tc.key)
			if err != nil {
				t.Fatalf("raw: %v", err)
			}
			if rvOf(t, obj) != modRev {
				t.Errorf("resourceVersion %s, mod revision %d", obj.GetResourceVersion(), modRev)
			}
			var stored struct {
				APIVersion string         `json:"apiVersion"`
				Kind       string         `json:"kind"`
				Metadata   map[string]any `json:"metadata"`
			}
			if err := json.Unmarshal(raw, &stored); err != nil {
				t.Fatal(err)
			}
			if stored.APIVersion != r.APIVersion() || stored.Kind != r.Kind {
				t.Errorf("stored apiVersion/kind = %s/%s", stored.APIVersion, stored.Kind)
			}
			if _, ok := stored.Metadata["resourceVersion"]; ok {
				t.Errorf("resourceVersion is stored in the value: %s", raw)
			}
			if obj.GetUID() == "" || obj.GetGeneration() != tc.gen {
				t.Errorf("uid %q generation %d, want generation %d", obj.GetUID(), obj.GetGeneration(), tc.gen)
			}
			if ct := obj.GetCreationTimestamp(); !ct.Time.Equal(fixedNow.Truncate(time.Second)) {
				t.Errorf("creationTimestamp %v", ct)
			}

			got := r.New()
			if err := s.Get(ctx, obj.GetNamespace(), obj.GetName(), got); err != nil {
				t.Fatalf("get: %v", err)
			}
			if got.GetUID() != obj.GetUID() || got.GetResourceVersion() != obj.GetResourceVersion() ||
				got.GetObjectKind().GroupVersionKind() != r.GVK() {
				t.Errorf("get = uid %s rv %s gvk %v; created uid %s rv %s", got.GetUID(), got.GetResourceVersion(),
					got.GetObjectKind().GroupVersionKind(), obj.GetUID(), obj.GetResourceVersion())
			}

			oldRV := rvOf(t, got)
			tc.mutate(got)
			got.SetUID("someone-else")                            // must be kept from the stored object
			got.SetCreationTimestamp(metav1.NewTime(time.Time{})) // ditto
			if err := s.Update(ctx, got); err != nil {
				t.Fatalf("update: %v", err)
			}
			if rvOf(t, got) <= oldRV {
				t.Errorf("resourceVersion after update %d, before %d", rvOf(t, got), oldRV)
			}
			again := r.New()
			if err := s.Get(ctx, obj.GetNamespace(), obj.GetName(), again); err != nil {
				t.Fatal(err)
			}
			tc.check(t, again)
			if again.GetGeneration() != tc.wantGen {
				t.Errorf("generation after update %d, want %d", again.GetGeneration(), tc.wantGen)
			}
			if again.GetUID() != obj.GetUID() || !again.GetCreationTimestamp().Time.Equal(obj.GetCreationTimestamp().Time) {
				t.Errorf("uid/creationTimestamp changed: %s %v", again.GetUID(), again.GetCreationTimestamp())
			}
			if again.GetResourceVersion() != got.GetResourceVersion() {
				t.Errorf("get rv %s, update set %s", again.GetResourceVersion(), got.GetResourceVersion())
			}

			if err := s.Delete(ctx, r, obj.GetNamespace(), obj.GetName(), again.GetResourceVersion()); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if err := s.Get(ctx, obj.GetNamespace(), obj.GetName(), r.New()); !errors.Is(err, api.ErrNotFound) {
				t.Errorf("get after delete: %v, want ErrNotFound", err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestWriteErrors(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	pods := storetest.Resource(t, "po")
	base := pod("default", "p", nil)
	if err := s.Create(ctx, base); err != nil {
		t.Fatal(err)
	}
	stale := base.DeepCopy()
	fresh := base.DeepCopy()
	fresh.Labels = map[string]string{"v": "2"}
	if err := s.Update(ctx, fresh); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"create twice", func() error { return s.Create(ctx, pod("default", "p", nil)) }, api.ErrExists},
		{"create without name", func() error { return s.Create(ctx, pod("default", "", nil)) }, api.ErrInvalid},
		{"create of unknown type", func() error { return s.Create(ctx, &corev1.PersistentVolume{}) }, api.ErrInvalid},
		{"update with stale resourceVersion", func() error { return s.Update(ctx, stale.DeepCopy()) }, api.ErrConflict},
		{"update without resourceVersion", func() error {
			p := fresh.DeepCopy()
			p.ResourceVersion = ""
			return s.Update(ctx, p)
		}, api.ErrInvalid},
		{"update of missing object", func() error {
			p := fresh.DeepCopy()
			p.Name = "missing"
			return s.Update(ctx, p)
		}, api.ErrNotFound},
		{"delete with stale resourceVersion", func() error {
			return s.Delete(ctx, pods, "default", "p", stale.ResourceVersion)
		}, api.ErrConflict},
		{"delete with bad resourceVersion", func() error { return s.Delete(ctx, pods, "default", "p", "abc") }, api.ErrInvalid},
		{"delete of missing object", func() error { return s.Delete(ctx, pods, "default", "missing", "") }, api.ErrNotFound},
		{"conditional delete of missing object", func() error { return s.Delete(ctx, pods, "default", "missing", "5") }, api.ErrNotFound},
		{"get of missing object", func() error { return s.Get(ctx, "default", "missing", &corev1.Pod{}) }, api.ErrNotFound},
		{"get raw of missing key", func() error { _, _, err := s.GetRaw(ctx, "/bosun/none"); return err }, api.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "store: ") {
				t.Errorf("message does not name its origin: %q", err)
			}
		})
	}
	// The object survived the failed writes unchanged.
	got := &corev1.Pod{}
	if err := s.Get(ctx, "", "p", got); err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != fresh.ResourceVersion || got.Labels["v"] != "2" {
		t.Errorf("object changed: rv %s labels %v", got.ResourceVersion, got.Labels)
	}
	// An unconditional delete works.
	if err := s.Delete(ctx, pods, "", "p", ""); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateName(t *testing.T) {
	s, _ := newStore(t)
	p := pod("default", "", nil)
	p.GenerateName = "web-"
	if err := s.Create(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Name, "web-") || len(p.Name) != len("web-")+5 {
		t.Errorf("name = %q", p.Name)
	}
}

func TestGeneration(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	tests := []struct {
		name   string
		change func(d *appsv1.Deployment)
		bump   bool
	}{
		{"spec replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(7)) }, true},
		{"spec template image", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "x:2" }, true},
		{"labels only", func(d *appsv1.Deployment) { d.Labels = map[string]string{"a": "b"} }, false},
		{"status only", func(d *appsv1.Deployment) { d.Status.Replicas = 3 }, false},
		{"nothing", func(d *appsv1.Deployment) {}, false},
		{"generation field set by caller is ignored", func(d *appsv1.Deployment) { d.Generation = 42 }, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := deployment("default", fmt.Sprintf("d%d", i), 1, nil)
			if err := s.Create(ctx, d); err != nil {
				t.Fatal(err)
			}
			if d.Generation != 1 {
				t.Fatalf("generation after create %d", d.Generation)
			}
			tc.change(d)
			if err := s.Update(ctx, d); err != nil {
				t.Fatal(err)
			}
			want := int64(1)
			if tc.bump {
				want = 2
			}
			got := &appsv1.Deployment{}
			if err := s.Get(ctx, "default", d.Name, got); err != nil {
				t.Fatal(err)
			}
			if got.Generation != want || d.Generation != want {
				t.Errorf("generation stored %d, in object %d, want %d", got.Generation, d.Generation, want)
			}
		})
	}
}

func TestList(t *testing.T) {
	s, e := newStore(t)
	ctx := t.Context()
	pods := storetest.Resource(t, "pods")
	for _, p := range []*corev1.Pod{
		pod("b", "y", map[string]string{"app": "web"}),
		pod("a", "x", map[string]string{"app": "web"}),
		pod("a", "z", map[string]string{"app": "db"}),
		pod("ab", "w", nil), // shares the prefix "a" but is another namespace
	} {
		if err := s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	snapshot, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, pod("a", "later", nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, pods, "a", "x", ""); err != nil {
		t.Fatal(err)
	}
	web, _ := labels.Parse("app=web")

	tests := []struct {
		name      string
		namespace string
		opts      store.ListOptions
		want      string
	}{
		{"all namespaces", "", store.ListOptions{}, "a/later a/z ab/w b/y"},
		{"one namespace", "a", store.ListOptions{}, "a/later a/z"},
		{"selector", "", store.ListOptions{Selector: web}, "b/y"},
		{"older revision", "", store.ListOptions{Revision: snapshot}, "a/x a/z ab/w b/y"},
		{"older revision, namespace and selector", "a", store.ListOptions{Revision: snapshot, Selector: web}, "a/x"},
		{"empty namespace", "none", store.ListOptions{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs, rev, err := s.List(ctx, pods, tc.namespace, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(storetest.Names(objs), " "); got != tc.want {
				t.Errorf("list = %q, want %q", got, tc.want)
			}
			if tc.opts.Revision != 0 && rev != tc.opts.Revision {
				t.Errorf("list revision %d, want %d", rev, tc.opts.Revision)
			}
			for _, o := range objs {
				if rvOf(t, o) > rev || o.(*corev1.Pod).Kind != "Pod" {
					t.Errorf("%s: rv %s after list revision %d, kind %q", o.GetName(), o.GetResourceVersion(), rev, o.(*corev1.Pod).Kind)
				}
			}
		})
	}

	// Compact past the snapshot: listing at it must fail with ErrCompacted.
	cur, _ := s.Revision(ctx)
	if _, err := e.Client().Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.List(ctx, pods, "", store.ListOptions{Revision: snapshot}); !errors.Is(err, api.ErrCompacted) {
		t.Errorf("list at compacted revision: %v, want ErrCompacted", err)
	}
}

// TestListPages lists more objects than one etcd page, with writes in between
// that must not show up in a read at a fixed revision.
func TestListPages(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	txn := s.Txn()
	for i := range 1203 {
		if err := txn.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%04d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	rev, err := txn.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-9999"}}); err != nil {
		t.Fatal(err)
	}
	objs, got, err := s.List(ctx, storetest.Resource(t, "cm"), "default", store.ListOptions{Revision: rev})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1203 || got != rev {
		t.Fatalf("listed %d objects at %d, want 1203 at %d", len(objs), got, rev)
	}
	for i, o := range objs {
		if want := fmt.Sprintf("cm-%04d", i); o.GetName() != want {
			t.Fatalf("object %d is %s, want %s", i, o.GetName(), want)
		}
	}
	all, _, err := s.List(ctx, storetest.Resource(t, "cm"), "", store.ListOptions{})
	if err != nil || len(all) != 1204 {
		t.Fatalf("latest list: %d objects, %v", len(all), err)
	}
}

func TestRaw(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	for _, k := range []string{"/bosun/sync/b", "/bosun/sync/a", "/bosun/sync/c", "/bosun/other"} {
		if _, err := s.PutRaw(ctx, k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	rev, err := s.PutRaw(ctx, "/bosun/sync/a", []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	v, mod, err := s.GetRaw(ctx, "/bosun/sync/a")
	if err != nil || string(v) != "new" || mod != rev {
		t.Fatalf("get raw = %q %d %v, want new %d", v, mod, err, rev)
	}
	tests := []struct {
		name  string
		limit int64
		desc  bool
		want  string
	}{
		{"ascending", 0, false, "/bosun/sync/a /bosun/sync/b /bosun/sync/c"},
		{"descending", 0, true, "/bosun/sync/c /bosun/sync/b /bosun/sync/a"},
		{"limit", 2, true, "/bosun/sync/c /bosun/sync/b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kvs, err := s.ListRaw(ctx, "/bosun/sync/", tc.limit, tc.desc)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, kv := range kvs {
				keys = append(keys, kv.Key)
			}
			if got := strings.Join(keys, " "); got != tc.want {
				t.Errorf("keys %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResources(t *testing.T) {
	rs := api.Resources()
	var kinds []string
	for _, r := range rs {
		kinds = append(kinds, r.APIVersion()+" "+r.Kind)
		if o := r.New(); o == nil {
			t.Errorf("%s: New returned nil", r.Kind)
		} else if got, err := api.ResourceOf(o); err != nil || got.Name != r.Name {
			t.Errorf("ResourceOf(New()) of %s = %s, %v", r.Kind, got.Name, err)
		}
	}
	want := "v1 Namespace,v1 Pod,v1 ReplicationController,v1 Service,v1 Endpoints,v1 ConfigMap,v1 Secret,v1 Node,v1 Event," +
		"v1 ServiceAccount,v1 PersistentVolumeClaim,v1 PersistentVolume,v1 ResourceQuota,v1 LimitRange," +
		"apps/v1 ReplicaSet,apps/v1 Deployment,apps/v1 DaemonSet,apps/v1 StatefulSet,apps/v1 ControllerRevision," +
		"batch/v1 Job,batch/v1 CronJob,autoscaling/v2 HorizontalPodAutoscaler," +
		"policy/v1 PodDisruptionBudget,discovery.k8s.io/v1 EndpointSlice,coordination.k8s.io/v1 Lease,events.k8s.io/v1 Event"
	if got := strings.Join(kinds, ","); got != want {
		t.Errorf("Resources = %s", got)
	}
	rs[0].Name = "changed" // a fresh slice each call
	if api.Resources()[0].Name != "namespaces" {
		t.Error("Resources shares its slice between calls")
	}

	lookups := []struct {
		name, want string
		ok         bool
	}{
		{"deploy", "deployments", true},
		{"deployments", "deployments", true},
		{"Deployment", "deployments", true},
		{"deployment", "deployments", true},
		{"deployments.apps", "deployments", true},
		{"deployments.batch", "", false},
		{"po", "pods", true},
		{"ns", "namespaces", true},
		{"endpoints", "endpoints", true},
		{"leases.coordination.k8s.io", "leases", true},
		{"svc", "services", true},
		{"cronjobs", "cronjobs", true},
		{"hpa", "horizontalpodautoscalers", true},
		{"podtemplates", "", false},
	}
	for _, tc := range lookups {
		r, ok := api.Lookup(tc.name)
		if ok != tc.ok || r.Name != tc.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.name, r.Name, ok, tc.want, tc.ok)
		}
	}
	r, ok := api.ResourceFor(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"})
	if !ok || r.Name != "replicasets" || r.ListKind() != "ReplicaSetList" || r.APIVersion() != "apps/v1" {
		t.Errorf("ResourceFor(ReplicaSet) = %+v, %v", r, ok)
	}
	if _, ok := api.ResourceFor(schema.GroupVersionKind{Version: "v1", Kind: "Deployment"}); ok {
		t.Error("ResourceFor found a Deployment in the core group")
	}
	if _, err := api.ResourceOf(&corev1.PodTemplate{}); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("ResourceOf(PodTemplate) = %v, want ErrInvalid", err)
	}
}

func TestKeyPrefix(t *testing.T) {
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	s := store.New(e.Client(), store.Options{Prefix: "/custom/"})
	if k := s.Key(storetest.Resource(t, "nodes"), "x", "n1"); k != "/custom/nodes/n1" {
		t.Errorf("key = %q", k)
	}
	if err := s.Create(t.Context(), pod("", "p", nil)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.GetRaw(t.Context(), "/custom/pods/default/p"); err != nil {
		t.Errorf("object not under the custom prefix: %v", err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	cfg := storetest.Config(t, dir)
	e1, err := store.StartEmbedded(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s1 := store.New(e1.Client(), e1.StoreOptions())
	d := deployment("default", "keep", 3, nil)
	if err := s1.Create(ctx, d); err != nil {
		e1.Close()
		t.Fatal(err)
	}
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := storetest.StartEmbedded(t, cfg) // port 0 again: new ports, same data
	s2 := store.New(e2.Client(), e2.StoreOptions())
	got := &appsv1.Deployment{}
	if err := s2.Get(ctx, "default", "keep", got); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if got.UID != d.UID || got.ResourceVersion != d.ResourceVersion || *got.Spec.Replicas != 3 {
		t.Errorf("after reopen: uid %s rv %s; want uid %s rv %s", got.UID, got.ResourceVersion, d.UID, d.ResourceVersion)
	}
	// Writes continue from the old revision.
	got.Spec.Replicas = ptr(int32(4))
	if err := s2.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if rvOf(t, got) <= rvOf(t, d) {
		t.Errorf("revision went back: %s after %s", got.ResourceVersion, d.ResourceVersion)
	}
}

func TestConnect(t *testing.T) {
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	ctx := t.Context()
	c, err := store.Connect(ctx, e.Endpoints())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := store.New(c, store.Options{})
	if _, err := s.PutRaw(ctx, "/bosun/x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Connect(ctx, nil); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("connect without endpoints: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if c, err := store.Connect(short, []string{"http://127.0.0.1:1"}); err == nil {
		c.Close()
		t.Error("connect to a closed port succeeded")
	}
}
