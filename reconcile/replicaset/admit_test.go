package replicaset

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// limitAdmitter admits the first limit pods, refusing the rest as a quota
// would, and sets a default on the pods it admits as a LimitRange would.
type limitAdmitter struct {
	mu       sync.Mutex
	limit    int
	admitted int
}

func (a *limitAdmitter) AdmitPod(_ context.Context, pod *corev1.Pod) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.admitted >= a.limit {
		return fmt.Errorf("pods %q is forbidden: exceeded quota: compute, requested: pods=1, used: pods=%d, limited: pods=%d: %w",
			pod.GenerateName, a.admitted, a.limit, api.ErrForbidden)
	}
	a.admitted++
	pod.Spec.ServiceAccountName = "default"
	return nil
}

// TestAdmission: a ReplicaSet creates only the pods admission admits (with
// what admission set on them), and records the refusal as a FailedCreate
// Event and its ReplicaFailure condition, as Kubernetes' controller does.
func TestAdmission(t *testing.T) {
	adm := &limitAdmitter{limit: 3}
	e := newEnv(t, KindReplicaSet)
	e.c.admit = adm
	rs := testRS("web", 5, map[string]string{"app": "web"})
	if err := e.s.Create(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	e.waitCached(t, rs)
	if _, err := e.c.Reconcile(t.Context(), "default/web"); err == nil || !strings.Contains(err.Error(), "exceeded quota") {
		t.Fatalf("Reconcile = %v, want the quota refusal", err)
	}
	pods := e.storedPods(t)
	if len(pods) != 3 {
		t.Fatalf("%d pods created, want the 3 admitted", len(pods))
	}
	for _, p := range pods {
		if p.Spec.ServiceAccountName != "default" {
			t.Errorf("pod %s: serviceAccountName %q, want admission's default", p.Name, p.Spec.ServiceAccountName)
		}
	}
	testutil.EventuallyTrue(t, 10*time.Second, "a FailedCreate Event", func() bool {
		for _, ev := range eventstest.Find(t, e.s, "default", "web", ReasonFailedCreate) {
			if ev.Type == corev1.EventTypeWarning && strings.HasPrefix(ev.Message, `Error creating: pods "web-" is forbidden: exceeded quota: compute`) {
				return true
			}
		}
		return false
	})
	testutil.EventuallyTrue(t, 10*time.Second, "3 cached pods", func() bool { return e.cachedPods() == 3 })
	e.clk.Step(time.Minute)
	_, _ = e.c.Reconcile(t.Context(), "default/web")
	var got appsv1.ReplicaSet
	if err := e.s.Get(t.Context(), "default", "web", &got); err != nil {
		t.Fatal(err)
	}
	var failure *appsv1.ReplicaSetCondition
	for i := range got.Status.Conditions {
		if got.Status.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure {
			failure = &got.Status.Conditions[i]
		}
	}
	if failure == nil || failure.Reason != ReasonFailedCreate || !strings.Contains(failure.Message, "exceeded quota") {
		t.Errorf("conditions %+v, want ReplicaFailure FailedCreate with the quota message", got.Status.Conditions)
	}
	// Room again: the rest are created and the condition clears.
	adm.mu.Lock()
	adm.limit = 5
	adm.mu.Unlock()
	testutil.EventuallyTrue(t, 10*time.Second, "5 pods once admitted", func() bool {
		e.clk.Step(time.Minute)
		_, _ = e.c.Reconcile(t.Context(), "default/web")
		return len(e.storedPods(t)) == 5
	})
}
