package daemonset

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// harness runs the controller on embedded etcd with real informers. Nothing
// schedules or runs pods: kubelet() plays scheduler and agents when a test
// asks it to.
type harness struct {
	t  *testing.T
	st *store.Store
	c  *Controller
}

func start(t *testing.T, admit reconcile.PodAdmitter) *harness {
	t.Helper()
	st := storetest.Start(t)
	inf := cache.NewInformers(st, storetest.Logger(t))
	c := New(Config{Writer: st, Getter: st, NewBatch: func() Batch { return st.Txn() }, Informers: inf,
		Admit: admit, Recorder: eventstest.Recorder(t, st, "daemonset-controller"), Logger: storetest.Logger(t)})
	testutil.Start(t, func(ctx context.Context) error {
		inf.Start(ctx)
		return c.Run(ctx)
	})
	return &harness{t: t, st: st, c: c}
}

func (h *harness) ctx() context.Context { return h.t.Context() }

func (h *harness) addNode(name string, labels map[string]string, taints ...corev1.Taint) {
	h.t.Helper()
	if err := h.st.Create(h.ctx(), testNode(name, labels, taints...)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) modifyNode(name string, change func(*corev1.Node)) {
	h.t.Helper()
	storetest.Modify(h.t, h.st, "", name, &corev1.Node{}, change)
}

func (h *harness) deleteNode(name string) {
	h.t.Helper()
	if err := h.st.Delete(h.ctx(), storetest.Resource(h.t, "nodes"), "", name, ""); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) createSet(ds *appsv1.DaemonSet) {
	h.t.Helper()
	ds = ds.DeepCopy()
	ds.UID = ""
	if err := h.st.Create(h.ctx(), ds); err != nil {
		h.t.Fatal(err)
	}
}

// modifySet changes the DaemonSet, retrying when the controller wrote its
// status meanwhile.
func (h *harness) modifySet(change func(*appsv1.DaemonSet)) {
	h.t.Helper()
	for {
		ds := h.set()
		change(ds)
		err := h.st.Update(h.ctx(), ds)
		if err == nil {
			return
		}
		if !errors.Is(err, api.ErrConflict) {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) set() *appsv1.DaemonSet {
	h.t.Helper()
	ds := &appsv1.DaemonSet{}
	if err := h.st.Get(h.ctx(), "default", "agent", ds); err != nil {
		h.t.Fatal(err)
	}
	return ds
}

func (h *harness) pods() []*corev1.Pod {
	h.t.Helper()
	objs, _, err := h.st.List(h.ctx(), storetest.Resource(h.t, "pods"), "default", store.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]*corev1.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*corev1.Pod)
	}
	return out
}

// podNodes returns the target node of every pod not being deleted, by node.
func (h *harness) podNodes() map[string]int {
	out := map[string]int{}
	for _, p := range h.pods() {
		if p.DeletionTimestamp == nil {
			n, _ := targetNode(p)
			out[n]++
		}
	}
	return out
}

// waitPodNodes waits until the pods not being deleted are exactly one on
// each of nodes.
func (h *harness) waitPodNodes(nodes ...string) {
	h.t.Helper()
	testutil.Eventually(h.t, 10*time.Second, fmt.Sprintf("one daemon pod on each of %v", nodes), func() (bool, string) {
		got := h.podNodes()
		if len(got) != len(nodes) {
			return false, fmt.Sprintf("pods per node %v", got)
		}
		for _, n := range nodes {
			if got[n] != 1 {
				return false, fmt.Sprintf("pods per node %v", got)
			}
		}
		return true, ""
	})
}

// kubelet does, once, what the scheduler and agents would: binds pending
// pods to their target node, makes them Running and Ready, and removes pods
// being deleted (as an agent does when its containers stopped).
func (h *harness) kubelet() {
	h.t.Helper()
	for _, p := range h.pods() {
		var err error
		switch {
		case p.DeletionTimestamp != nil:
			err = h.st.Delete(h.ctx(), storetest.Resource(h.t, "pods"), p.Namespace, p.Name, p.ResourceVersion)
		case !isReady(p):
			p = p.DeepCopy()
			p.Spec.NodeName, _ = targetNode(p)
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
			err = h.st.Update(h.ctx(), p)
		}
		if err != nil && !errors.Is(err, api.ErrConflict) && !errors.Is(err, api.ErrNotFound) {
			h.t.Fatal(err)
		}
	}
}

// waitStatus waits until the stored status satisfies ok.
func (h *harness) waitStatus(what string, ok func(appsv1.DaemonSetStatus) bool) {
	h.t.Helper()
	testutil.Eventually(h.t, 10*time.Second, what, func() (bool, string) {
		st := h.set().Status
		return ok(st), fmt.Sprintf("status %+v", st)
	})
}

func rollingSet(maxUnavailable, maxSurge int) *appsv1.DaemonSet {
	ds := testSet(nil)
	u, s := intstr.FromInt(maxUnavailable), intstr.FromInt(maxSurge)
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &u, MaxSurge: &s}}
	return ds
}
