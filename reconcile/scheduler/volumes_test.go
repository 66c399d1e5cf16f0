package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/reconcile/volumebinding"
)

func withClaim(claim string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	}
}

func testClaim(name string, class *string, volume string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: class, VolumeName: volume,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

func testVolume(name, node string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/v/" + name}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				expr("kubernetes.io/hostname", corev1.NodeSelectorOpIn, node)}}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
	}
}

func strPtr(s string) *string { return &s }

// TestVolumeBinding runs the scheduler on three nodes with pods whose claims
// are missing, bound to a node-local volume, unbound and provisionable, or
// unbound of a class nobody provisions.
func TestVolumeBinding(t *testing.T) {
	for _, tc := range []struct {
		name     string
		objs     []api.Object
		wantNode string // "" : unschedulable with wantMsg
		wantMsg  string
		// wantSelected: the claim "data" gets the selected-node annotation
		// of the node the pod is bound to.
		wantSelected bool
	}{
		{name: "claim not found", wantMsg: `0/3 nodes are available: persistentvolumeclaim "data" not found.`},
		{name: "bound to a volume on b", objs: []api.Object{testVolume("pv1", "b"), testClaim("data", nil, "pv1")}, wantNode: "b"},
		{name: "bound to a volume on a node that is gone", objs: []api.Object{testVolume("pv1", "z"), testClaim("data", nil, "pv1")},
			wantMsg: "0/3 nodes are available: 3 node(s) had volume node affinity conflict."},
		{name: "bound to a volume that is gone", objs: []api.Object{testClaim("data", nil, "pv1")},
			wantMsg: `0/3 nodes are available: persistentvolume "pv1" not found.`},
		{name: "unbound, provisionable", objs: []api.Object{testClaim("data", strPtr("local-path"), "")}, wantSelected: true},
		{name: "unbound, class unset", objs: []api.Object{testClaim("data", nil, "")}, wantSelected: true},
		{name: "unbound, unknown class", objs: []api.Object{testClaim("data", strPtr("fast"), "")},
			wantMsg: `0/3 nodes are available: storageclass.storage.k8s.io "fast" not found.`},
		{name: "unbound, empty class", objs: []api.Object{testClaim("data", strPtr(""), "")},
			wantMsg: "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := []*corev1.Node{makeNode("a", "4", "8Gi", 110), makeNode("b", "4", "8Gi", 110), makeNode("c", "4", "8Gi", 110)}
			e := startEnv(t, nodes, nil)
			for _, o := range tc.objs {
				if err := e.st.Create(t.Context(), o); err != nil {
					t.Fatal(err)
				}
			}
			p := makePod("web-0", "100m", "", withClaim("data"))
			p.UID = ""
			if err := e.st.Create(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			if tc.wantMsg != "" {
				e.eventually("the pod unschedulable", time.Second, func() bool {
					c := scheduledCondition(e.pod("web-0"))
					return c != nil && c.Status == corev1.ConditionFalse && c.Message == tc.wantMsg
				})
				if got := e.pod("web-0"); got.Spec.NodeName != "" {
					t.Fatalf("pod bound to %s, want unschedulable", got.Spec.NodeName)
				}
				return
			}
			e.eventually("the pod bound", time.Second, func() bool { return e.pod("web-0").Spec.NodeName != "" })
			node := e.pod("web-0").Spec.NodeName
			if tc.wantNode != "" && node != tc.wantNode {
				t.Errorf("pod bound to %s, want %s", node, tc.wantNode)
			}
			var pvc corev1.PersistentVolumeClaim
			if err := e.st.Get(t.Context(), "default", "data", &pvc); err != nil {
				t.Fatal(err)
			}
			got, want := pvc.Annotations[volumebinding.AnnSelectedNode], ""
			if tc.wantSelected {
				want = node
			}
			if got != want {
				t.Errorf("claim's %s = %q, want %q", volumebinding.AnnSelectedNode, got, want)
			}
		})
	}
}

// TestClaimAppearsLater: a pod waiting for its claim is scheduled once the
// claim is created.
func TestClaimAppearsLater(t *testing.T) {
	e := startEnv(t, []*corev1.Node{makeNode("a", "4", "8Gi", 110)}, nil)
	p := makePod("web-0", "", "", withClaim("data"))
	p.UID = ""
	if err := e.st.Create(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	e.eventually("the pod unschedulable", time.Second, func() bool { return scheduledCondition(e.pod("web-0")) != nil })
	if err := e.st.Create(t.Context(), testClaim("data", nil, "")); err != nil {
		t.Fatal(err)
	}
	e.eventually("the pod bound", time.Second, func() bool { return e.pod("web-0").Spec.NodeName == "a" })
}

// TestScheduleWithVolumes is the filter alone on a snapshot: volume node
// affinity restricts the nodes, terms of one selector are ORed, several
// volumes must all match.
func TestScheduleWithVolumes(t *testing.T) {
	sel := func(nodes ...string) *corev1.NodeSelector {
		s := &corev1.NodeSelector{}
		for _, n := range nodes {
			s.NodeSelectorTerms = append(s.NodeSelectorTerms, expr("kubernetes.io/hostname", corev1.NodeSelectorOpIn, n))
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		affinity []*corev1.NodeSelector
		want     []string // any of these
		wantErr  string
	}{
		{"none", nil, []string{"a", "b", "c"}, ""},
		{"one volume on c", []*corev1.NodeSelector{sel("c")}, []string{"c"}, ""},
		{"terms ORed", []*corev1.NodeSelector{sel("a", "b")}, []string{"a", "b"}, ""},
		{"two volumes, one node both match", []*corev1.NodeSelector{sel("a", "b"), sel("b", "c")}, []string{"b"}, ""},
		{"two volumes on different nodes", []*corev1.NodeSelector{sel("a"), sel("c")}, nil,
			"0/3 nodes are available: 3 node(s) had volume node affinity conflict."},
		{"resources fail first", []*corev1.NodeSelector{sel("a")}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSnapshot(SnapshotOptions{})
			s.SetNode(makeNode("a", "4", "8Gi", 110))
			s.SetNode(makeNode("b", "4", "8Gi", 110))
			s.SetNode(makeNode("c", "4", "8Gi", 110))
			pod := makePod("p", "100m", "")
			if tc.name == "resources fail first" {
				pod = makePod("p", "8", "")
				tc.wantErr = "0/3 nodes are available: 3 Insufficient cpu."
			}
			node, fe := s.ScheduleWithVolumes(pod, tc.affinity)
			if tc.wantErr != "" {
				if fe == nil || fe.Error() != tc.wantErr {
					t.Fatalf("got node %q, error %v; want %q", node, fe, tc.wantErr)
				}
				return
			}
			if fe != nil || !contains(tc.want, node) {
				t.Fatalf("got node %q, error %v; want one of %v", node, fe, tc.want)
			}
		})
	}
}
