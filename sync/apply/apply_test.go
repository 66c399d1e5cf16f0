package apply_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/apply"
	"github.com/bosun-dev/bosun/sync/state"
)

// decode turns YAML documents into manifests, failing the test on any
// problem.
func decode(t *testing.T, file, yaml string) []manifests.Object {
	t.Helper()
	objs, problems := manifests.Decode(file, []byte(yaml), manifests.Limits{})
	if err := problems.Err(); err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	return objs
}

func deployment(replicas int, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: %s
`, replicas, image)
}

const service = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
`

func commit(sha string) state.CommitInfo {
	return state.CommitInfo{SHA: sha, Author: "Tester <t@example.com>", Subject: "commit " + sha, Time: time.Unix(1700000000, 0).UTC()}
}

func getDeployment(t *testing.T, s *store.Store) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := s.Get(t.Context(), "default", "web", d); err != nil {
		t.Fatalf("get deployment: %v", err)
	}
	return d
}

func TestApplyCreatesUpdatesAndPrunes(t *testing.T) {
	s := storetest.Start(t)
	a := apply.New(s, nil)
	ctx := t.Context()

	objs := append(decode(t, "web/deploy.yaml", deployment(2, "nginx:1")), decode(t, "web/svc.yaml", service)...)
	att, err := a.Apply(ctx, apply.Input{Commit: commit("aaaa1111"), Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if att.Created != 2 || att.Updated != 0 || att.Pruned != 0 {
		t.Errorf("first apply: created/updated/pruned = %d/%d/%d, want 2/0/0", att.Created, att.Updated, att.Pruned)
	}
	d := getDeployment(t, s)
	if d.Labels[api.LabelManagedBy] != api.ManagedByValue || d.Annotations[api.AnnotationCommit] != "aaaa1111" ||
		d.Annotations[api.AnnotationSource] != "web/deploy.yaml:1" {
		t.Errorf("bosun metadata on the deployment: labels %v annotations %v", d.Labels, d.Annotations)
	}
	uid := d.UID

	// A controller writes status and the Deployment's revision annotation.
	d.Status = appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 1, ObservedGeneration: 1}
	d.Annotations["deployment.kubernetes.io/revision"] = "1"
	if err := s.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	// The control plane allocates the Service's addresses.
	svc := &corev1.Service{}
	storetest.Modify(t, s, "default", "web", svc, func(v *corev1.Service) {
		v.Spec.ClusterIP, v.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
		v.Spec.Ports[0].NodePort = 31234
	})

	// Same content, new commit: nothing is written.
	att, err = a.Apply(ctx, apply.Input{Commit: commit("bbbb2222"), Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if att.Created+att.Updated+att.Pruned != 0 {
		t.Errorf("unchanged commit wrote objects: %+v", att)
	}
	if got := getDeployment(t, s).Annotations[api.AnnotationCommit]; got != "aaaa1111" {
		t.Errorf("commit annotation of an unchanged object = %s, want the commit that last changed it (aaaa1111)", got)
	}

	// New spec: the deployment is updated; status, uid, the controller's
	// annotation and the Service's allocations are kept; the Service is
	// unchanged.
	objs = append(decode(t, "web/deploy.yaml", deployment(5, "nginx:2")), decode(t, "web/svc.yaml", service)...)
	att, err = a.Apply(ctx, apply.Input{Commit: commit("cccc3333"), Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if att.Updated != 1 || att.Created != 0 {
		t.Errorf("spec change: created/updated = %d/%d, want 0/1", att.Created, att.Updated)
	}
	d = getDeployment(t, s)
	if *d.Spec.Replicas != 5 || d.Spec.Template.Spec.Containers[0].Image != "nginx:2" {
		t.Errorf("spec not updated: replicas %d image %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	}
	if d.UID != uid || d.Status.ReadyReplicas != 1 || d.Annotations["deployment.kubernetes.io/revision"] != "1" {
		t.Errorf("update lost what sync does not own: uid %s (was %s), status %+v, annotations %v", d.UID, uid, d.Status, d.Annotations)
	}
	if d.Generation != 2 {
		t.Errorf("generation after a spec change = %d, want 2", d.Generation)
	}
	if err := s.Get(ctx, "default", "web", svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "10.96.0.10" || svc.Spec.Ports[0].NodePort != 31234 {
		t.Errorf("service allocations lost: clusterIP %q nodePort %d", svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort)
	}

	// The Service leaves the commit: pruned.
	att, err = a.Apply(ctx, apply.Input{Commit: commit("dddd4444"), Objects: objs[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if att.Pruned != 1 {
		t.Errorf("pruned = %d, want 1", att.Pruned)
	}
	if err := s.Get(ctx, "default", "web", &corev1.Service{}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("service after prune: %v, want not found", err)
	}

	st, err := records.ReadStatus(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if st.Synced == nil || st.Synced.Commit.SHA != "dddd4444" || st.Objects != 1 {
		t.Errorf("status after the last apply: %+v", st)
	}
	h, err := records.ReadHistory(ctx, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 4 || h[0].Commit.SHA != "dddd4444" || h[3].Commit.SHA != "aaaa1111" {
		t.Errorf("history: %d entries, newest first want dddd4444..aaaa1111: %+v", len(h), h)
	}
}

func TestApplyEmptyCommitGuard(t *testing.T) {
	s := storetest.Start(t)
	a := apply.New(s, nil)
	ctx := t.Context()
	if _, err := a.Apply(ctx, apply.Input{Commit: commit("a1"), Objects: decode(t, "d.yaml", deployment(1, "nginx"))}); err != nil {
		t.Fatal(err)
	}
	_, err := a.Apply(ctx, apply.Input{Commit: commit("a2")})
	if !errors.Is(err, apply.ErrEmptyCommit) {
		t.Fatalf("empty commit: %v, want ErrEmptyCommit", err)
	}
	getDeployment(t, s) // still there
	att, err := a.Apply(ctx, apply.Input{Commit: commit("a3"), AllowEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	if att.Pruned != 1 {
		t.Errorf("AllowEmpty: pruned %d, want 1", att.Pruned)
	}
}

// An object that exists without bosun's label (made through the API
// before it moved to Git) is adopted, not duplicated.
func TestApplyAdoptsUnmanagedObject(t *testing.T) {
	s := storetest.Start(t)
	ctx := t.Context()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "default"}, Data: map[string]string{"a": "old"}}
	if err := s.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	objs := decode(t, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: new}\n")
	att, err := apply.New(s, nil).Apply(ctx, apply.Input{Commit: commit("b1"), Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	got := &corev1.ConfigMap{}
	if err := s.Get(ctx, "default", "settings", got); err != nil {
		t.Fatal(err)
	}
	if got.Data["a"] != "new" || got.UID != cm.UID || got.Labels[api.LabelManagedBy] != api.ManagedByValue {
		t.Errorf("adopted configmap: data %v uid %s (was %s) labels %v; attempt %+v", got.Data, got.UID, cm.UID, got.Labels, att)
	}
}

// A commit above the store's transaction limit is refused whole.
func TestApplyTooLarge(t *testing.T) {
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	s := store.New(e.Client(), store.Options{MaxTxnOps: 10})
	var objs []manifests.Object
	for i := range 20 {
		objs = append(objs, decode(t, "cm.yaml", fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm%d}\n", i))...)
	}
	_, err := apply.New(s, nil).Apply(t.Context(), apply.Input{Commit: commit("c1"), Objects: objs})
	if !errors.Is(err, api.ErrTooLarge) {
		t.Fatalf("apply of 20 objects with MaxTxnOps 10: %v, want ErrTooLarge", err)
	}
	r, _ := api.Lookup("configmaps")
	got, _, err := s.List(t.Context(), r, "", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("%d configmaps written by a refused commit, want 0", len(got))
	}
}

// Status and system metadata written in Git never reach the store: sync
// does not write status.
func TestApplyDropsStatusFromGit(t *testing.T) {
	s := storetest.Start(t)
	objs := decode(t, "d.yaml", deployment(1, "nginx")+"status:\n  replicas: 7\n  readyReplicas: 7\n")
	objs[0].Obj.SetUID("from-git")
	if _, err := apply.New(s, nil).Apply(t.Context(), apply.Input{Commit: commit("e1"), Objects: objs}); err != nil {
		t.Fatal(err)
	}
	d := getDeployment(t, s)
	if d.Status.Replicas != 0 || d.UID == "from-git" {
		t.Errorf("created deployment carries Git's status %+v / uid %s", d.Status, d.UID)
	}
}

// The scheduler's binding of a bare Pod from Git survives later commits.
func TestApplyKeepsPodBinding(t *testing.T) {
	s := storetest.Start(t)
	a := apply.New(s, nil)
	ctx := t.Context()
	pod := func(image string) []manifests.Object {
		return decode(t, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: "+image+"}]\n")
	}
	if _, err := a.Apply(ctx, apply.Input{Commit: commit("p1"), Objects: pod("nginx:1")}); err != nil {
		t.Fatal(err)
	}
	p := &corev1.Pod{}
	storetest.Modify(t, s, "default", "p", p, func(v *corev1.Pod) { v.Spec.NodeName = "node-1" })
	if _, err := a.Apply(ctx, apply.Input{Commit: commit("p2"), Objects: pod("nginx:2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Get(ctx, "default", "p", p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "node-1" || p.Spec.Containers[0].Image != "nginx:2" {
		t.Errorf("after a new commit: nodeName %q image %q, want node-1 and nginx:2", p.Spec.NodeName, p.Spec.Containers[0].Image)
	}
}

// Re-applying the synced commit (a resync) that changes nothing writes no
// new status or history.
func TestApplyResyncWritesNothing(t *testing.T) {
	s := storetest.Start(t)
	a := apply.New(s, nil)
	ctx := t.Context()
	objs := decode(t, "d.yaml", deployment(1, "nginx"))
	if _, err := a.Apply(ctx, apply.Input{Commit: commit("r1"), Objects: objs}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		st, err := records.ReadStatus(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Apply(ctx, apply.Input{Commit: commit("r1"), Objects: objs, Status: st}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := records.ReadHistory(ctx, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 {
		t.Errorf("history has %d entries after three resyncs of one commit, want 1", len(h))
	}
}

// A bare Pod removed from Git that runs on a node terminates gracefully, as
// when deleted through the API: it is marked (deletionTimestamp, the 30 s
// default grace) for its agent, not removed, and a later sync does not prune
// it again. An unbound one is removed at once.
func TestApplyPrunesRunningPodGracefully(t *testing.T) {
	s := storetest.Start(t)
	a := apply.New(s, nil)
	ctx := t.Context()
	pods := decode(t, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: nginx}]\n"+
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: unbound}\nspec:\n  containers: [{name: c, image: nginx}]\n")
	if _, err := a.Apply(ctx, apply.Input{Commit: commit("g1"), Objects: pods}); err != nil {
		t.Fatal(err)
	}
	p := &corev1.Pod{}
	storetest.Modify(t, s, "default", "p", p, func(v *corev1.Pod) { v.Spec.NodeName = "node-1"; v.Status.Phase = corev1.PodRunning })
	keep := decode(t, "d.yaml", deployment(1, "nginx"))
	att, err := a.Apply(ctx, apply.Input{Commit: commit("g2"), Objects: keep, AllowEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	if att.Pruned != 2 {
		t.Errorf("pruned = %d, want 2", att.Pruned)
	}
	if err := s.Get(ctx, "default", "p", p); err != nil {
		t.Fatalf("running pod removed at once: %v", err)
	}
	if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 30 {
		t.Errorf("pruned running pod: deletionTimestamp %v grace %v, want set with 30 s", p.DeletionTimestamp, p.DeletionGracePeriodSeconds)
	}
	if err := s.Get(ctx, "default", "unbound", &corev1.Pod{}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("pruned unbound pod: %v, want it gone", err)
	}
	st, err := records.ReadStatus(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	att, err = a.Apply(ctx, apply.Input{Commit: commit("g3"), Objects: keep, Status: st})
	if err != nil {
		t.Fatal(err)
	}
	if att.Pruned != 0 {
		t.Errorf("a terminating pod was pruned again: pruned = %d", att.Pruned)
	}
}

// A claim and a volume from Git keep what the volume binder and the
// scheduler wrote (volumeName, the claimRef's uid, their annotations) when a
// later commit changes them, instead of unbinding them.
func TestApplyKeepsVolumeBinding(t *testing.T) {
	s := storetest.Start(t)
	a := apply.New(s, nil)
	ctx := t.Context()
	objs := func(size string) []manifests.Object {
		return decode(t, "storage.yaml", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  resources: {requests: {storage: `+size+`}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: local}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  claimRef: {namespace: default, name: data}
  local: {path: /srv/data}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [n1]}]
`)
	}
	if _, err := a.Apply(ctx, apply.Input{Commit: commit("v1"), Objects: objs("1Gi")}); err != nil {
		t.Fatal(err)
	}
	claim := &corev1.PersistentVolumeClaim{}
	storetest.Modify(t, s, "default", "data", claim, func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = "local"
		c.Annotations["pv.kubernetes.io/bind-completed"] = "yes"
		c.Annotations["volume.kubernetes.io/selected-node"] = "n1"
	})
	pv := &corev1.PersistentVolume{}
	storetest.Modify(t, s, "", "local", pv, func(v *corev1.PersistentVolume) { v.Spec.ClaimRef.UID = claim.UID })
	if _, err := a.Apply(ctx, apply.Input{Commit: commit("v2"), Objects: objs("2Gi")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Get(ctx, "default", "data", claim); err != nil {
		t.Fatal(err)
	}
	if claim.Spec.VolumeName != "local" || claim.Annotations["pv.kubernetes.io/bind-completed"] != "yes" ||
		claim.Annotations["volume.kubernetes.io/selected-node"] != "n1" || claim.Spec.Resources.Requests.Storage().String() != "2Gi" {
		t.Errorf("claim after a new commit: volumeName %q annotations %v request %s; want the binding kept and 2Gi",
			claim.Spec.VolumeName, claim.Annotations, claim.Spec.Resources.Requests.Storage())
	}
	if err := s.Get(ctx, "", "local", pv); err != nil {
		t.Fatal(err)
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != claim.UID {
		t.Errorf("volume's claimRef after a new commit: %+v, want the binder's uid %s kept", pv.Spec.ClaimRef, claim.UID)
	}
}
