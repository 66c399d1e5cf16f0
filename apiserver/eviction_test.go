package apiserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// readyPod is a Running, Ready pod app=web in default.
func readyPod(name string, change ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "a", Containers: []corev1.Container{{Name: "web", Image: "nginx:1.25"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	for _, c := range change {
		c(p)
	}
	return p
}

// budget is a PodDisruptionBudget app=web in default with minAvailable
// healthy-allowed whose status, as the disruption controller would write
// it, counts healthy pods and allows allowed disruptions.
func budget(name string, healthy, allowed int32, change ...func(*policyv1.PodDisruptionBudget)) *policyv1.PodDisruptionBudget {
	p := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(healthy - allowed)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, ExpectedPods: healthy, CurrentHealthy: healthy,
			DesiredHealthy: healthy - allowed, DisruptionsAllowed: allowed},
	}
	for _, c := range change {
		c(p)
	}
	return p
}

func eviction(name string) string {
	return fmt.Sprintf(`{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":%q,"namespace":"default"}}`, name)
}

func evictionPath(name string) string { return "/api/v1/namespaces/default/pods/" + name + "/eviction" }

func (e *env) exists(obj api.Object) bool {
	e.t.Helper()
	err := e.st.Get(ctx(e.t), obj.GetNamespace(), obj.GetName(), obj)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

// live reports whether a pod exists and is not terminating: an evicted or
// deleted pod that runs on a node is only marked (deletionTimestamp) until its
// agent stopped it.
func (e *env) live(pod *corev1.Pod) bool {
	e.t.Helper()
	return e.exists(pod) && pod.DeletionTimestamp == nil
}

// finalizeTerminating plays the node agents of a test without agents: it
// removes every pod marked for deletion, as an agent does once it stopped
// the pod's containers, until the test ends.
func (e *env) finalizeTerminating(t *testing.T) {
	pods := storetest.Resource(t, "pods")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			objs, _, _ := e.st.List(ctx, pods, "", store.ListOptions{})
			for _, o := range objs {
				if o.GetDeletionTimestamp() != nil {
					_ = e.st.Delete(ctx, pods, o.GetNamespace(), o.GetName(), o.GetResourceVersion())
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
}

func TestEviction(t *testing.T) {
	tests := []struct {
		name    string
		objs    []api.Object
		pod     string
		body    string // "" = an Eviction of pod
		code    int
		want    string // in the answer
		deleted bool
		// allowed is the budget's disruptionsAllowed afterwards (-1: no budget named "web").
		allowed   int32
		disrupted bool // the pod is in the budget's disruptedPods
	}{
		{name: "budget allows it", objs: []api.Object{readyPod("a"), readyPod("b"), budget("web", 2, 1)},
			pod: "a", code: 201, want: `"status":"Success"`, deleted: true, allowed: 0, disrupted: true},
		{name: "budget exhausted", objs: []api.Object{readyPod("a"), readyPod("b"), budget("web", 2, 0)},
			pod: "a", code: 429, want: `"message":"Cannot evict pod as it would violate the pod's disruption budget.","reason":"TooManyRequests","details":{"causes":[{"reason":"DisruptionBudget","message":"The disruption budget web needs 2 healthy pods and has 2 currently"}]},"code":429`},
		{name: "budget status behind its spec", objs: []api.Object{readyPod("a"), budget("web", 2, 1, func(p *policyv1.PodDisruptionBudget) { p.Status.ObservedGeneration = 0 })},
			pod: "a", code: 429, want: `"message":"The disruption budget web is still being processed by the server."}],"retryAfterSeconds":10}`, allowed: 1},
		{name: "v1beta1 body", objs: []api.Object{readyPod("a"), budget("web", 2, 1)}, pod: "a",
			body: `{"apiVersion":"policy/v1beta1","kind":"Eviction","metadata":{"name":"a"},"deleteOptions":{"gracePeriodSeconds":30}}`,
			code: 201, deleted: true, allowed: 0, disrupted: true},
		{name: "dry run", objs: []api.Object{readyPod("a"), budget("web", 2, 1)}, pod: "a",
			body: `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"a"},"deleteOptions":{"dryRun":["All"]}}`,
			code: 201, allowed: 1},
		{name: "no budget", objs: []api.Object{readyPod("a")}, pod: "a", code: 201, deleted: true, allowed: -1},
		{name: "budget of other pods", objs: []api.Object{readyPod("a", func(p *corev1.Pod) { p.Labels["app"] = "api" }), budget("web", 1, 0)},
			pod: "a", code: 201, deleted: true},
		{name: "pending pod ignores the budget", objs: []api.Object{readyPod("a", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }), budget("web", 1, 0)},
			pod: "a", code: 201, deleted: true},
		{name: "unready pod while the budget is met", objs: []api.Object{readyPod("a"), readyPod("b"),
			readyPod("c", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }), budget("web", 2, 0)},
			pod: "c", code: 201, deleted: true},
		{name: "unready pod, AlwaysAllow", objs: []api.Object{
			readyPod("c", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }),
			budget("web", 1, 0, func(p *policyv1.PodDisruptionBudget) {
				p.Status.CurrentHealthy = 0
				p.Spec.UnhealthyPodEvictionPolicy = ptr(policyv1.AlwaysAllow)
			})},
			pod: "c", code: 201, deleted: true},
		{name: "two budgets", objs: []api.Object{readyPod("a"), budget("web", 2, 1), budget("web2", 2, 1)},
			pod: "a", code: 500, want: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.", allowed: 1},
		{name: "pod not found", objs: []api.Object{budget("web", 2, 1)}, pod: "gone", code: 404, want: `pods \"gone\" not found`, allowed: 1},
		{name: "name mismatch", objs: []api.Object{readyPod("a")}, pod: "a", body: eviction("b"), code: 400,
			want: "name in URL does not match name in Eviction object", allowed: -1},
		{name: "stale precondition", objs: []api.Object{readyPod("a")}, pod: "a",
			body: `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"a"},"deleteOptions":{"preconditions":{"resourceVersion":"1"}}}`,
			code: 409, want: "the ResourceVersion in the precondition (1) does not match", allowed: -1},
		{name: "pod from Git", objs: []api.Object{readyPod("a", func(p *corev1.Pod) {
			p.Labels[api.LabelManagedBy] = api.ManagedByValue
			p.Annotations = map[string]string{api.AnnotationSource: "pods/a.yaml:1"}
		})}, pod: "a", code: 405, want: "is managed by Git: change pods/a.yaml (line 1)", allowed: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, apiserver.Config{})
			for _, o := range tt.objs {
				e.create(o)
			}
			body := tt.body
			if body == "" {
				body = eviction(tt.pod)
			}
			code, out := e.do("POST", evictionPath(tt.pod), body)
			if code != tt.code || !strings.Contains(string(out), tt.want) {
				t.Fatalf("eviction = %d %s\nwant %d containing %s", code, out, tt.code, tt.want)
			}
			if pod := readyPod(tt.pod); e.live(pod) == tt.deleted && tt.pod != "gone" {
				t.Errorf("pod exists = %v, want deleted = %v", !tt.deleted, tt.deleted)
			}
			pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}}
			if !e.exists(pdb) {
				if tt.allowed != -1 {
					t.Fatal("no budget web")
				}
				return
			}
			if pdb.Status.DisruptionsAllowed != tt.allowed {
				t.Errorf("disruptionsAllowed = %d, want %d", pdb.Status.DisruptionsAllowed, tt.allowed)
			}
			if _, ok := pdb.Status.DisruptedPods[tt.pod]; ok != tt.disrupted {
				t.Errorf("disruptedPods = %v, want %s in it: %v", pdb.Status.DisruptedPods, tt.pod, tt.disrupted)
			}
		})
	}
}

// TestEvictionRace: of concurrent evictions under a budget that allows
// one disruption, exactly one deletes its pod; the others get 429.
func TestEvictionRace(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	const n = 8
	for i := range n {
		e.create(readyPod(fmt.Sprintf("p%d", i)))
	}
	e.create(budget("web", n, 1))
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("p%d", i)
			codes[i], _ = e.do("POST", evictionPath(name), eviction(name))
		})
	}
	wg.Wait()
	won, refused := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			won++
		case http.StatusTooManyRequests:
			refused++
		}
	}
	if won != 1 || refused != n-1 {
		t.Fatalf("codes %v: want one 201 and %d 429", codes, n-1)
	}
	pods, _, err := e.st.List(ctx(t), storetest.Resource(t, "pods"), "default", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	left := 0
	for _, p := range pods {
		if p.GetDeletionTimestamp() == nil {
			left++
		}
	}
	if left != n-1 {
		t.Errorf("%d pods left (not terminating), want %d", left, n-1)
	}
	pdb := budget("web", 0, 0)
	e.exists(pdb)
	if pdb.Status.DisruptionsAllowed != 0 || len(pdb.Status.DisruptedPods) != 1 {
		t.Errorf("budget status after the race: %+v", pdb.Status)
	}
}

// TestEvictionByNode: a node credential may not evict, an admin may.
func TestEvictionByNode(t *testing.T) {
	e := newTLSEnv(t, nil)
	admin := e.as(admin)
	admin.create(readyPod("x"))
	code, out := e.as(nodeA).do("POST", evictionPath("x"), eviction("x"))
	if code != http.StatusForbidden || !strings.Contains(string(out), `cannot create resource \"pods/eviction\"`) {
		t.Fatalf("eviction by a node = %d %s", code, out)
	}
	if code, out := admin.do("POST", evictionPath("x"), eviction("x")); code != http.StatusCreated {
		t.Fatalf("eviction by an admin = %d %s", code, out)
	}
	var pod corev1.Pod
	_, out = admin.do("GET", "/api/v1/namespaces/default/pods/x", nil)
	if err := json.Unmarshal(out, &pod); err != nil || pod.DeletionTimestamp == nil || pod.DeletionGracePeriodSeconds == nil ||
		*pod.DeletionGracePeriodSeconds != 30 {
		t.Errorf("evicted running pod is not terminating with the default 30 s grace: %s", out)
	}
}
