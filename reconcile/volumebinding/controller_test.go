package volumebinding

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// startEnv runs a Controller on a real embedded etcd with one node, n1,
// whose volume directory is /var/lib/bosun/volumes.
func startEnv(t *testing.T) *store.Store {
	t.Helper()
	s := storetest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1",
		Annotations: map[string]string{AnnLocalVolumeDir: "/var/lib/bosun/volumes"}}}
	if err := s.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	inf := cache.NewInformers(s, storetest.Logger(t))
	c := New(Config{Writer: s, Getter: s, Informers: inf, Logger: storetest.Logger(t),
		Recorder: eventstest.Recorder(t, s, "persistentvolume-controller")})
	inf.Start(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func claim(name string, class *string, ann map[string]string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Annotations: ann},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func getClaim(t *testing.T, s *store.Store, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var pvc corev1.PersistentVolumeClaim
	if err := s.Get(context.Background(), "default", name, &pvc); err != nil {
		t.Fatal(err)
	}
	return &pvc
}

// waitVolume waits until PV name exists and check(pv) holds.
func waitVolume(t *testing.T, s *store.Store, name, what string, check func(*corev1.PersistentVolume) bool) *corev1.PersistentVolume {
	t.Helper()
	var pv corev1.PersistentVolume
	testutil.EventuallyTrue(t, 10*time.Second, what, func() bool {
		return s.Get(context.Background(), "", name, &pv) == nil && check(&pv)
	})
	return &pv
}

func TestProvisionsOnSelectedNodeAndBinds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		class     *string
		wantClass string
	}{
		{"unset class", nil, "local-path"},
		{"local-path", ptr("local-path"), "local-path"},
		{"standard", ptr("standard"), "standard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startEnv(t)
			ctx := context.Background()
			pvc := claim("data", tc.class, map[string]string{AnnSelectedNode: "n1"})
			if err := s.Create(ctx, pvc); err != nil {
				t.Fatal(err)
			}
			pvName := "pvc-" + string(pvc.UID)
			pv := waitVolume(t, s, pvName, "the PV provisioned and bound", func(pv *corev1.PersistentVolume) bool {
				return pv.Status.Phase == corev1.VolumeBound
			})
			if got, want := pv.Spec.Local.Path, "/var/lib/bosun/volumes/"+pvName; got != want {
				t.Errorf("local path = %q, want %q", got, want)
			}
			terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
			if len(terms) != 1 || terms[0].MatchExpressions[0].Key != LabelHostname || terms[0].MatchExpressions[0].Values[0] != "n1" {
				t.Errorf("node affinity = %+v, want kubernetes.io/hostname In [n1]", terms)
			}
			if pv.Spec.StorageClassName != tc.wantClass || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
				pv.Annotations[AnnProvisionedBy] != Provisioner || pv.Spec.ClaimRef.UID != pvc.UID ||
				pv.Spec.Capacity.Storage().String() != "1Gi" {
				t.Errorf("PV = %+v", pv)
			}
			testutil.EventuallyTrue(t, 10*time.Second, "the claim bound", func() bool {
				got := getClaim(t, s, "data")
				return got.Spec.VolumeName == pvName && got.Status.Phase == corev1.ClaimBound && got.Status.Capacity.Storage().String() == "1Gi"
			})
		})
	}
}

func TestWaitsForFirstConsumer(t *testing.T) {
	s := startEnv(t)
	ctx := context.Background()
	if err := s.Create(ctx, claim("data", nil, nil)); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "a WaitForFirstConsumer event", func() bool {
		return len(eventstest.Find(t, s, "default", "data", ReasonWaitForFirstConsumer)) > 0
	})
	pvc := getClaim(t, s, "data")
	if pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim without a selected node: volumeName %q phase %q, want none and Pending", pvc.Spec.VolumeName, pvc.Status.Phase)
	}
	storetest.Modify(t, s, "default", "data", &corev1.PersistentVolumeClaim{}, func(o *corev1.PersistentVolumeClaim) {
		metav1.SetMetaDataAnnotation(&o.ObjectMeta, AnnSelectedNode, "n1")
	})
	waitVolume(t, s, "pvc-"+string(pvc.UID), "the PV provisioned once the node is selected", func(pv *corev1.PersistentVolume) bool { return true })
}

func TestUnprovisionableClassStaysPending(t *testing.T) {
	for _, tc := range []struct {
		name, class, want string
	}{
		{"empty class", "", `storage class "" has no provisioner`},
		{"other class", "fast", `storageclass.storage.k8s.io "fast" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startEnv(t)
			if err := s.Create(context.Background(), claim("data", ptr(tc.class), map[string]string{AnnSelectedNode: "n1"})); err != nil {
				t.Fatal(err)
			}
			testutil.EventuallyTrue(t, 10*time.Second, "a ProvisioningFailed event", func() bool {
				evs := eventstest.Find(t, s, "default", "data", ReasonProvisioningFailed)
				return len(evs) > 0 && len(evs[0].Message) >= len(tc.want) && evs[0].Message[:len(tc.want)] == tc.want
			})
			pvs, _, err := s.List(context.Background(), storetest.Resource(t, "persistentvolumes"), "", store.ListOptions{})
			if err != nil || len(pvs) != 0 {
				t.Errorf("PVs = %d (%v), want none", len(pvs), err)
			}
		})
	}
}

func TestReclaimPolicy(t *testing.T) {
	for _, tc := range []struct {
		name        string
		policy      corev1.PersistentVolumeReclaimPolicy
		wantDeleted bool
	}{
		{"Delete deletes the PV", corev1.PersistentVolumeReclaimDelete, true},
		{"Retain releases the PV", corev1.PersistentVolumeReclaimRetain, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startEnv(t)
			ctx := context.Background()
			pvc := claim("data", nil, map[string]string{AnnSelectedNode: "n1"})
			if err := s.Create(ctx, pvc); err != nil {
				t.Fatal(err)
			}
			pvName := "pvc-" + string(pvc.UID)
			waitVolume(t, s, pvName, "bound", func(pv *corev1.PersistentVolume) bool { return pv.Status.Phase == corev1.VolumeBound })
			storetest.Modify(t, s, "", pvName, &corev1.PersistentVolume{}, func(o *corev1.PersistentVolume) {
				o.Spec.PersistentVolumeReclaimPolicy = tc.policy
			})
			cur := getClaim(t, s, "data")
			if err := s.Delete(ctx, storetest.Resource(t, "pvc"), "default", "data", cur.ResourceVersion); err != nil {
				t.Fatal(err)
			}
			if tc.wantDeleted {
				testutil.EventuallyTrue(t, 10*time.Second, "the PV deleted", func() bool {
					return errors.Is(s.Get(ctx, "", pvName, &corev1.PersistentVolume{}), api.ErrNotFound)
				})
				return
			}
			waitVolume(t, s, pvName, "the PV released", func(pv *corev1.PersistentVolume) bool { return pv.Status.Phase == corev1.VolumeReleased })
		})
	}
}

func TestPreBound(t *testing.T) {
	hostPV := func(ref *corev1.ObjectReference) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "static"},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				ClaimRef:                      ref,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/static"}},
			},
		}
	}
	for _, tc := range []struct {
		name string
		pv   *corev1.PersistentVolume
		pvc  func() *corev1.PersistentVolumeClaim
	}{
		{"PV with claimRef", hostPV(&corev1.ObjectReference{Namespace: "default", Name: "data"}), func() *corev1.PersistentVolumeClaim {
			return claim("data", ptr(""), nil)
		}},
		{"claim with volumeName", hostPV(nil), func() *corev1.PersistentVolumeClaim {
			c := claim("data", ptr(""), nil)
			c.Spec.VolumeName = "static"
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startEnv(t)
			ctx := context.Background()
			if err := s.Create(ctx, tc.pv); err != nil {
				t.Fatal(err)
			}
			pvc := tc.pvc()
			if err := s.Create(ctx, pvc); err != nil {
				t.Fatal(err)
			}
			waitVolume(t, s, "static", "the PV bound to the claim", func(pv *corev1.PersistentVolume) bool {
				return pv.Status.Phase == corev1.VolumeBound && pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID == pvc.UID
			})
			testutil.EventuallyTrue(t, 10*time.Second, "the claim bound", func() bool {
				got := getClaim(t, s, "data")
				return got.Spec.VolumeName == "static" && got.Status.Phase == corev1.ClaimBound
			})
		})
	}
}

// TestNodeVolumeDirLater: a claim selected for a node whose agent has not
// written its volume directory yet is provisioned once it has.
func TestNodeVolumeDirLater(t *testing.T) {
	s := startEnv(t)
	ctx := context.Background()
	if err := s.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}); err != nil {
		t.Fatal(err)
	}
	pvc := claim("data", nil, map[string]string{AnnSelectedNode: "n2"})
	if err := s.Create(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "a ProvisioningFailed event naming the annotation", func() bool {
		return slices.ContainsFunc(eventstest.Find(t, s, "default", "data", ReasonProvisioningFailed), func(ev *corev1.Event) bool {
			return ev.Message == `node "n2" has no annotation bosun.dev/local-volume-dir: its agent has not registered a volume directory yet`
		})
	})
	storetest.Modify(t, s, "", "n2", &corev1.Node{}, func(n *corev1.Node) {
		metav1.SetMetaDataAnnotation(&n.ObjectMeta, AnnLocalVolumeDir, "/srv/n2/volumes")
	})
	pv := waitVolume(t, s, "pvc-"+string(pvc.UID), "the PV provisioned", func(pv *corev1.PersistentVolume) bool { return true })
	if want := "/srv/n2/volumes/pvc-" + string(pvc.UID); pv.Spec.Local.Path != want {
		t.Errorf("local path %q, want %q", pv.Spec.Local.Path, want)
	}
}
