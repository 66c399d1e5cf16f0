package deployment

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile"
	"github.com/bosun-dev/bosun/store/storetest"
)

func TestCreateMakesOneReplicaSet(t *testing.T) {
	e := newEnv(t)
	d := newDeployment("web", 3, "nginx:1")
	e.create(d)
	e.converge("web")

	rss := e.replicaSets()
	if len(rss) != 1 {
		t.Fatalf("got %d replica sets, want 1: %s", len(rss), describe(rss))
	}
	rs := rss[0]
	hash := ComputeHash(&d.Spec.Template, nil)
	checks := []struct {
		name      string
		got, want string
	}{
		{"name", rs.Name, "web-" + hash},
		{"label", rs.Labels[LabelPodTemplateHash], hash},
		{"selector", rs.Spec.Selector.MatchLabels[LabelPodTemplateHash], hash},
		{"selector app", rs.Spec.Selector.MatchLabels["app"], "web"},
		{"template label", rs.Spec.Template.Labels[LabelPodTemplateHash], hash},
		{"revision", rs.Annotations[AnnotationRevision], "1"},
		{"desired-replicas", rs.Annotations[AnnotationDesiredReplicas], "3"},
		{"max-replicas", rs.Annotations[AnnotationMaxReplicas], "4"},
		{"deployment revision", e.deployment("web").Annotations[AnnotationRevision], "1"},
		{"managed-by not copied", rs.Labels["app.kubernetes.io/managed-by"], ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if rsReplicas(rs) != 3 {
		t.Errorf("replicas = %d, want 3", rsReplicas(rs))
	}
	wantEvent := "Scaled up replica set web-" + hash + " from 0 to 3"
	testutil.EventuallyNoDiff(t, 10*time.Second, "the ScalingReplicaSet Event", func() string {
		evs := eventstest.Find(t, e.s, "default", "web", ReasonScalingReplicaSet)
		if len(evs) != 1 || evs[0].Message != wantEvent || evs[0].InvolvedObject.Kind != "Deployment" {
			return fmt.Sprintf("%d Events %v, want one %q", len(evs), evs, wantEvent)
		}
		return ""
	})
	ref := metav1.GetControllerOf(rs)
	if ref == nil || ref.UID != e.deployment("web").UID || ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" ||
		ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller ref = %+v, want the Deployment, blocking owner deletion", ref)
	}
	e.wantCondition("web", appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewReplicaSetCreated)
	e.wantCondition("web", appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinimumReplicasUnavailable)

	// The ReplicaSet controller reports the pods ready: the rollout completes.
	e.allReady()
	e.converge("web")
	got := e.deployment("web")
	want := appsv1.DeploymentStatus{
		ObservedGeneration: got.Generation, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3,
	}
	st := got.Status
	st.Conditions = nil
	if !reflect.DeepEqual(st, want) {
		t.Errorf("status = %+v, want %+v", st, want)
	}
	e.wantCondition("web", appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewReplicaSetAvailable)
	e.wantCondition("web", appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinimumReplicasAvailable)
	if n := len(e.replicaSets()); n != 1 {
		t.Errorf("after completion %d replica sets, want 1", n)
	}
}

// rolloutSim plays the ReplicaSet controller in a rolling update: it keeps the
// true number of available pods per ReplicaSet, removes unavailable pods first
// when a ReplicaSet is scaled down, makes one pod available per step and
// reports status (a scaled-down ReplicaSet lag steps late, the others at once).
type rolloutSim struct {
	e       *env
	avail   map[string]int32 // true available pods per ReplicaSet
	lag     int              // steps a scaled-down ReplicaSet's status lags
	delayed map[string]int
	step    int
}

// apply makes the world follow the ReplicaSets' spec: pods beyond spec go,
// unavailable ones first.
func (s *rolloutSim) apply() {
	for _, rs := range s.e.replicaSets() {
		s.avail[rs.Name] = min(s.avail[rs.Name], rsReplicas(rs))
	}
}

// advance makes one more pod available and reports status.
func (s *rolloutSim) advance() {
	s.step++
	for _, rs := range s.e.replicaSets() {
		if s.avail[rs.Name] < rsReplicas(rs) {
			s.avail[rs.Name]++
			break
		}
	}
	for _, rs := range s.e.replicaSets() {
		if rs.Status.Replicas > rsReplicas(rs) && s.delayed[rs.Name] < s.lag {
			// A scaled-down ReplicaSet reports lag steps late: its status
			// still shows the pods it had.
			s.delayed[rs.Name]++
			continue
		}
		s.delayed[rs.Name] = 0
		s.e.setRSStatus(rs.Name, s.avail[rs.Name])
	}
}

func TestRollingUpdateBounds(t *testing.T) {
	tests := []struct {
		name        string
		replicas    int32
		surge, unav string
		wantSurge   int32
		wantUnav    int32
		lag         int
	}{
		{name: "defaults 25%", replicas: 10, surge: "25%", unav: "25%", wantSurge: 3, wantUnav: 2},
		{name: "surge only", replicas: 5, surge: "1", unav: "0", wantSurge: 1, wantUnav: 0},
		{name: "unavailable only", replicas: 5, surge: "0", unav: "2", wantSurge: 0, wantUnav: 2},
		{name: "both zero means one unavailable", replicas: 3, surge: "0%", unav: "0%", wantSurge: 0, wantUnav: 1},
		{name: "percent rounding", replicas: 7, surge: "30%", unav: "30%", wantSurge: 3, wantUnav: 2},
		{name: "single replica", replicas: 1, surge: "25%", unav: "25%", wantSurge: 1, wantUnav: 0},
		{name: "status lags one step", replicas: 10, surge: "3", unav: "2", wantSurge: 3, wantUnav: 2, lag: 1},
		{name: "status lags two steps", replicas: 10, surge: "3", unav: "2", wantSurge: 3, wantUnav: 2, lag: 2},
		{name: "status lags two steps no surge", replicas: 10, surge: "0", unav: "2", wantSurge: 0, wantUnav: 2, lag: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			d := newDeployment("web", tc.replicas, "app:v1", withStrategy(tc.surge, tc.unav))
			if s, u := maxSurge(d), maxUnavailable(d); s != tc.wantSurge || u != tc.wantUnav {
				t.Fatalf("resolved surge/unavailable = %d/%d, want %d/%d", s, u, tc.wantSurge, tc.wantUnav)
			}
			e.rolledOut(d)
			sim := &rolloutSim{e: e, avail: map[string]int32{}, lag: tc.lag, delayed: map[string]int{}}
			for _, rs := range e.replicaSets() {
				sim.avail[rs.Name] = rsReplicas(rs)
			}

			e.clk.Step(time.Minute)
			e.editDeployment("web", setImage("app:v2"))
			maxTotal := tc.replicas + tc.wantSurge
			minAvail := tc.replicas - tc.wantUnav
			check := func(when string) {
				t.Helper()
				rss := e.replicaSets()
				var total, avail int32
				for _, rs := range rss {
					total += rsReplicas(rs)
					avail += min(sim.avail[rs.Name], rsReplicas(rs))
				}
				if total > maxTotal {
					t.Fatalf("%s: %d pods wanted, more than replicas+maxSurge = %d: %s", when, total, maxTotal, describe(rss))
				}
				if avail < minAvail {
					t.Fatalf("%s: %d pods available, fewer than replicas-maxUnavailable = %d: %s", when, avail, minAvail, describe(rss))
				}
			}
			done := false
			for step := 0; step < 200 && !done; step++ {
				e.reconcile("web")
				sim.apply()
				check("after reconcile")
				newRS := e.rsByImage("app:v2")
				old := e.rsByImage("app:v1")
				done = newRS != nil && rsReplicas(newRS) == tc.replicas && newRS.Status.AvailableReplicas == tc.replicas &&
					rsReplicas(old) == 0 && old.Status.Replicas == 0
				if !done {
					sim.advance()
					check("after pods changed")
				}
			}
			if !done {
				t.Fatalf("rollout did not finish in 200 steps: %s", describe(e.replicaSets()))
			}
			e.converge("web")
			e.wantRevision("web", "2")
			got := e.deployment("web")
			if got.Status.UpdatedReplicas != tc.replicas || got.Status.AvailableReplicas != tc.replicas ||
				got.Status.Replicas != tc.replicas || got.Status.UnavailableReplicas != 0 || got.Status.ObservedGeneration != got.Generation {
				t.Errorf("final status = %+v", got.Status)
			}
			e.wantCondition("web", appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewReplicaSetAvailable)
			e.wantCondition("web", appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinimumReplicasAvailable)
		})
	}
}

// rollTo changes the image and plays a ReplicaSet controller that makes every
// pod ready at once until the rollout is complete.
func (e *env) rollTo(name, image string) {
	e.t.Helper()
	e.clk.Step(time.Minute)
	e.editDeployment(name, setImage(image))
	for range 50 {
		e.converge(name)
		e.allReady()
		e.converge(name)
		d := e.deployment(name)
		if deploymentComplete(d, &d.Status) && d.Status.Replicas == desiredReplicas(d) {
			return
		}
	}
	e.t.Fatalf("rollout to %s did not complete: %s", image, describe(e.replicaSets()))
}

func TestRollbackReusesOldReplicaSet(t *testing.T) {
	e := newEnv(t)
	e.rolledOut(newDeployment("web", 4, "app:v1"))
	v1 := e.rsByImage("app:v1")

	e.rollTo("web", "app:v2")
	if n := len(e.replicaSets()); n != 2 {
		t.Fatalf("%d replica sets after v2, want 2", n)
	}
	e.rollTo("web", "app:v1")

	rss := e.replicaSets()
	if len(rss) != 2 {
		t.Fatalf("%d replica sets after going back, want 2 (the old one reused): %s", len(rss), describe(rss))
	}
	back := e.rsByImage("app:v1")
	if back.UID != v1.UID || back.Name != v1.Name {
		t.Fatalf("v1 replica set is %s (%s), want the original %s (%s)", back.Name, back.UID, v1.Name, v1.UID)
	}
	if back.Annotations[AnnotationRevision] != "3" || back.Annotations[AnnotationRevisionHistory] != "1" {
		t.Errorf("reused revision = %q history %q, want 3 and 1", back.Annotations[AnnotationRevision], back.Annotations[AnnotationRevisionHistory])
	}
	if rsReplicas(back) != 4 || rsReplicas(e.rsByImage("app:v2")) != 0 {
		t.Errorf("replicas: %s", describe(rss))
	}
	e.wantRevision("web", "3")
}

func TestRecreateWaitsForOldPods(t *testing.T) {
	e := newEnv(t)
	e.rolledOut(newDeployment("db", 3, "db:v1", recreate()))
	old := e.rsByImage("db:v1")
	pod := podOf(old, "db-old-1", corev1.PodRunning)
	e.create(pod)

	e.clk.Step(time.Minute)
	e.editDeployment("db", setImage("db:v2"))
	steps := []struct {
		name    string
		world   func()
		wantOld int32
		wantNew int32 // -1: no new ReplicaSet yet
	}{
		{"old scaled to zero first", func() {}, 0, -1},
		{"old pods still reported", func() {}, 0, -1},
		{"status says zero but a pod still runs", func() { e.setRSStatus(old.Name, 0) }, 0, -1},
		{"pod gone: new at full size", func() {
			if err := e.s.Delete(e.ctx, res("pods"), "default", pod.Name, ""); err != nil {
				t.Fatal(err)
			}
		}, 0, 3},
	}
	for _, s := range steps {
		s.world()
		e.converge("db")
		if got := rsReplicas(e.rsByImage("db:v1")); got != s.wantOld {
			t.Fatalf("%s: old replicas = %d, want %d", s.name, got, s.wantOld)
		}
		newRS := e.rsByImage("db:v2")
		switch {
		case s.wantNew < 0 && newRS != nil:
			t.Fatalf("%s: new replica set %s exists while old pods run", s.name, newRS.Name)
		case s.wantNew >= 0 && (newRS == nil || rsReplicas(newRS) != s.wantNew):
			t.Fatalf("%s: new replica set = %s, want %d replicas", s.name, describe(e.replicaSets()), s.wantNew)
		}
	}
	e.allReady()
	e.converge("db")
	e.wantCondition("db", appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewReplicaSetAvailable)
	e.wantRevision("db", "2")
}

func TestRecreateTerminalPodDoesNotBlock(t *testing.T) {
	e := newEnv(t)
	e.rolledOut(newDeployment("job", 2, "j:v1", recreate()))
	old := e.rsByImage("j:v1")
	e.create(podOf(old, "job-done", corev1.PodSucceeded))
	e.editDeployment("job", setImage("j:v2"))
	e.converge("job")
	e.setRSStatus(old.Name, 0)
	e.converge("job")
	if rs := e.rsByImage("j:v2"); rs == nil || rsReplicas(rs) != 2 {
		t.Fatalf("a succeeded pod blocked the new replica set: %s", describe(e.replicaSets()))
	}
}

func TestProportionalScalingDuringRollout(t *testing.T) {
	// Kubernetes' documented example: 10 replicas, maxSurge 3, maxUnavailable 2,
	// mid-rollout with 8 old and 5 new; scaling to 15 gives 3 more to the old
	// ReplicaSet and 2 to the new one.
	e := newEnv(t)
	e.rolledOut(newDeployment("web", 10, "app:v1", withStrategy("3", "2")))
	e.clk.Step(time.Minute)
	e.editDeployment("web", setImage("app:v2"))
	e.converge("web") // new RS to 3, old to 8, new to 5: nothing new is available
	old, newRS := e.rsByImage("app:v1"), e.rsByImage("app:v2")
	if rsReplicas(old) != 8 || rsReplicas(newRS) != 5 {
		t.Fatalf("mid-rollout: %s, want old 8 and new 5", describe(e.replicaSets()))
	}
	e.setRSStatus(old.Name, 8)
	e.setRSStatus(newRS.Name, 0)

	e.editDeployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](15) })
	e.reconcile("web")
	old, newRS = e.rsByImage("app:v1"), e.rsByImage("app:v2")
	if rsReplicas(old) != 11 || rsReplicas(newRS) != 7 {
		t.Fatalf("after scaling to 15: %s, want old 11 and new 7", describe(e.replicaSets()))
	}
	for _, rs := range []*appsv1.ReplicaSet{old, newRS} {
		if rs.Annotations[AnnotationDesiredReplicas] != "15" || rs.Annotations[AnnotationMaxReplicas] != "18" {
			t.Errorf("%s annotations = %v", rs.Name, rs.Annotations)
		}
	}

	// Scaling down mid-rollout takes from both in proportion: to 5 (+3 surge),
	// old 11 -> 5 and new 7 -> 3.
	e.editDeployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) })
	e.reconcile("web")
	old, newRS = e.rsByImage("app:v1"), e.rsByImage("app:v2")
	if rsReplicas(old) != 5 || rsReplicas(newRS) != 3 {
		t.Fatalf("after scaling to 5: %s, want old 5 and new 3", describe(e.replicaSets()))
	}
}

func TestScaleWithoutRollout(t *testing.T) {
	tests := []struct {
		name string
		to   int32
	}{
		{"up", 7},
		{"down", 1},
		{"to zero", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.rolledOut(newDeployment("web", 3, "app:v1"))
			e.editDeployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(tc.to) })
			e.converge("web")
			rss := e.replicaSets()
			if len(rss) != 1 || rsReplicas(rss[0]) != tc.to {
				t.Fatalf("replica sets = %s, want one with %d", describe(rss), tc.to)
			}
			if got := rss[0].Annotations[AnnotationDesiredReplicas]; got != itoa(tc.to) {
				t.Errorf("desired-replicas = %q, want %d", got, tc.to)
			}
			e.allReady()
			e.converge("web")
			d := e.deployment("web")
			if d.Status.Replicas != tc.to || d.Status.AvailableReplicas != tc.to {
				t.Errorf("status = %+v", d.Status)
			}
		})
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func TestProgressDeadline(t *testing.T) {
	e := newEnv(t)
	d := newDeployment("stuck", 2, "app:v1")
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	rs := e.started(d)
	e.setRSStatus(rs.Name, 0) // pods exist but never become ready
	r := e.converge("stuck")
	// Pods created (updatedReplicas 0 -> 2) is progress, at t0.
	e.wantCondition("stuck", appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonReplicaSetUpdated)
	if r.RequeueAfter != 61*time.Second {
		t.Errorf("RequeueAfter = %v, want 61s (deadline plus a second)", r.RequeueAfter)
	}

	e.clk.Step(30 * time.Second)
	r = e.converge("stuck")
	e.wantCondition("stuck", appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonReplicaSetUpdated)
	if r.RequeueAfter != 31*time.Second {
		t.Errorf("RequeueAfter = %v after 30s, want 31s", r.RequeueAfter)
	}

	e.clk.Step(r.RequeueAfter)
	r = e.converge("stuck")
	e.wantCondition("stuck", appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonProgressDeadlineExceeded)
	e.wantCondition("stuck", appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinimumReplicasUnavailable)
	if r.RequeueAfter != 0 {
		t.Errorf("RequeueAfter = %v once timed out, want 0", r.RequeueAfter)
	}
	if c := cond(e.deployment("stuck"), appsv1.DeploymentProgressing); !strings.Contains(c.Message, "timed out progressing") {
		t.Errorf("message = %q", c.Message)
	}

	// Pods finally become ready: the rollout completes.
	e.setRSStatus(rs.Name, 2)
	e.converge("stuck")
	e.wantCondition("stuck", appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewReplicaSetAvailable)
	e.wantCondition("stuck", appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinimumReplicasAvailable)
}

func TestProgressRefreshesDeadline(t *testing.T) {
	e := newEnv(t)
	d := newDeployment("slow", 3, "app:v1")
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	rs := e.started(d)
	for i := int32(1); i <= 2; i++ {
		e.clk.Step(50 * time.Second)
		e.setRSStatus(rs.Name, i) // one more pod ready every 50 s: progress
		e.converge("slow")
		e.wantCondition("slow", appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonReplicaSetUpdated)
	}
	c := cond(e.deployment("slow"), appsv1.DeploymentProgressing)
	if !c.LastUpdateTime.Time.Equal(e.clk.Now()) {
		t.Errorf("lastUpdateTime = %v, want now %v", c.LastUpdateTime, e.clk.Now())
	}
	if !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("lastTransitionTime = %v, want the creation %v (status stayed True)", c.LastTransitionTime, t0)
	}
}

func TestAvailableCondition(t *testing.T) {
	tests := []struct {
		available int32
		want      corev1.ConditionStatus
		reason    string
	}{
		{0, corev1.ConditionFalse, ReasonMinimumReplicasUnavailable},
		{2, corev1.ConditionFalse, ReasonMinimumReplicasUnavailable},
		{3, corev1.ConditionTrue, ReasonMinimumReplicasAvailable}, // 4 - maxUnavailable 1
		{4, corev1.ConditionTrue, ReasonMinimumReplicasAvailable},
	}
	e := newEnv(t)
	rs := e.started(newDeployment("web", 4, "app:v1", withStrategy("1", "1")))
	for _, tc := range tests {
		e.setRSStatus(rs.Name, tc.available)
		e.converge("web")
		e.wantCondition("web", appsv1.DeploymentAvailable, tc.want, tc.reason)
		d := e.deployment("web")
		if d.Status.AvailableReplicas != tc.available || d.Status.ReadyReplicas != tc.available ||
			d.Status.UnavailableReplicas != 4-tc.available || d.Status.Replicas != 4 || d.Status.UpdatedReplicas != 4 {
			t.Errorf("available %d: status = %+v", tc.available, d.Status)
		}
	}
}

func TestRevisionHistoryLimit(t *testing.T) {
	e := newEnv(t)
	d := newDeployment("web", 2, "app:v1")
	d.Spec.RevisionHistoryLimit = ptr.To[int32](2)
	e.create(d)
	e.converge("web")
	e.allReady()
	e.converge("web")
	for _, img := range []string{"app:v2", "app:v3", "app:v4", "app:v5"} {
		e.rollTo("web", img)
	}
	rss := e.replicaSets()
	var got []string
	for _, rs := range rss {
		got = append(got, rs.Spec.Template.Spec.Containers[0].Image+"@"+rs.Annotations[AnnotationRevision])
	}
	want := "app:v3@3 app:v4@4 app:v5@5"
	if strings.Join(got, " ") != want {
		t.Fatalf("replica sets = %v, want %s (two old kept)", got, want)
	}
}

func TestPausedScalesButDoesNotRollOut(t *testing.T) {
	e := newEnv(t)
	e.create(newDeployment("web", 2, "app:v1"))
	e.converge("web")
	e.allReady()
	e.converge("web")

	e.editDeployment("web", func(d *appsv1.Deployment) {
		d.Spec.Paused = true
		setImage("app:v2")(d)
	})
	e.converge("web")
	if rss := e.replicaSets(); len(rss) != 1 {
		t.Fatalf("paused deployment rolled out: %s", describe(rss))
	}
	e.wantCondition("web", appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonDeploymentPaused)

	e.editDeployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) })
	e.converge("web")
	if rss := e.replicaSets(); len(rss) != 1 || rsReplicas(rss[0]) != 5 {
		t.Fatalf("paused deployment did not scale: %s", describe(rss))
	}
	if r := e.converge("web"); r.RequeueAfter != 0 {
		t.Errorf("paused deployment asks for a deadline requeue: %v", r.RequeueAfter)
	}

	e.editDeployment("web", func(d *appsv1.Deployment) { d.Spec.Paused = false })
	e.converge("web")
	if e.rsByImage("app:v2") == nil {
		t.Fatalf("resumed deployment did not roll out: %s", describe(e.replicaSets()))
	}
	c := cond(e.deployment("web"), appsv1.DeploymentProgressing)
	if c.Reason == ReasonDeploymentPaused {
		t.Errorf("Progressing still says paused: %+v", c)
	}
}

func TestAdoptAndRelease(t *testing.T) {
	e := newEnv(t)
	d := newDeployment("web", 2, "app:v1")
	hash := ComputeHash(&d.Spec.Template, nil)
	tmpl := *d.Spec.Template.DeepCopy()
	tmpl.Labels = map[string]string{"app": "web", LabelPodTemplateHash: hash}
	orphan := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-" + hash, Labels: tmpl.Labels},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels},
			Template: tmpl,
		},
	}
	e.create(orphan)
	// Another orphan that the selector does not match is left alone.
	other := orphan.DeepCopy()
	other.Name, other.ResourceVersion, other.UID = "api-x", "", ""
	other.Labels = map[string]string{"app": "api"}
	e.create(other)
	e.create(d)
	e.converge("web")

	rss := e.replicaSets()
	if len(rss) != 2 {
		t.Fatalf("replica sets = %s, want the orphan adopted, nothing created", describe(rss))
	}
	var adopted *appsv1.ReplicaSet
	for _, rs := range rss {
		if rs.Name == orphan.Name {
			adopted = rs
		} else if metav1.GetControllerOf(rs) != nil {
			t.Errorf("%s was adopted though its labels do not match", rs.Name)
		}
	}
	if ref := metav1.GetControllerOf(adopted); ref == nil || ref.UID != e.deployment("web").UID {
		t.Fatalf("orphan not adopted: %+v", adopted.OwnerReferences)
	}
	if adopted.Annotations[AnnotationRevision] != "1" {
		t.Errorf("adopted replica set revision = %q, want 1", adopted.Annotations[AnnotationRevision])
	}

	// Someone relabels the ReplicaSet: it no longer matches and is released.
	adopted.Labels = map[string]string{"app": "elsewhere"}
	if err := e.s.Update(e.ctx, adopted); err != nil {
		t.Fatal(err)
	}
	e.settle()
	// Released, the ReplicaSet keeps the name the template hashes to: a
	// collision, so the next pass uses another hash.
	if _, err := e.c.Reconcile(e.ctx, "default/web"); err == nil || !strings.Contains(err.Error(), "collision") {
		t.Fatalf("reconcile after release: err = %v, want a hash collision", err)
	}
	var rs appsv1.ReplicaSet
	if err := e.s.Get(e.ctx, "default", orphan.Name, &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs.OwnerReferences) != 0 {
		t.Errorf("released replica set still has owners %+v", rs.OwnerReferences)
	}
	e.converge("web")
	if got := e.replicaSets(); len(got) != 3 {
		t.Errorf("replica sets = %s, want a new one beside the released one", describe(got))
	}
}

func TestHashCollisionBumpsCollisionCount(t *testing.T) {
	e := newEnv(t)
	d := newDeployment("web", 1, "app:v1")
	hash := ComputeHash(&d.Spec.Template, nil)
	squatter := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-" + hash, Labels: map[string]string{"app": "other"}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "other"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "other"}}},
			},
		},
	}
	e.create(squatter)
	e.create(d)
	e.settle()
	if _, err := e.c.Reconcile(e.ctx, "default/web"); err == nil || !strings.Contains(err.Error(), "collision") {
		t.Fatalf("first reconcile: err = %v, want a hash collision", err)
	}
	got := e.deployment("web")
	if got.Status.CollisionCount == nil || *got.Status.CollisionCount != 1 {
		t.Fatalf("collisionCount = %v, want 1", got.Status.CollisionCount)
	}
	e.converge("web")
	want := "web-" + ComputeHash(&d.Spec.Template, ptr.To[int32](1))
	if rs := e.rsByImage("app:v1"); rs == nil || rs.Name != want {
		t.Fatalf("replica sets = %s, want %s", describe(e.replicaSets()), want)
	}
}

func TestComputeHash(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
		}}},
	}
	other := tmpl.DeepCopy()
	other.Spec.Containers[0].Image = "nginx:1.28"
	tests := []struct {
		name      string
		tmpl      *corev1.PodTemplateSpec
		collision *int32
		want      string
	}{
		// Golden values: a change here renames every ReplicaSet in every cluster.
		{"golden", &tmpl, nil, "66b76d8959"},
		{"golden with collision count", &tmpl, ptr.To[int32](1), "6b75975dc8"},
		{"other image", other, nil, "76cc5d8546"},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ComputeHash(tc.tmpl, tc.collision)
			for range 3 {
				copyTmpl := tc.tmpl.DeepCopy() // same content, new maps: same hash
				if again := ComputeHash(copyTmpl, tc.collision); again != got {
					t.Fatalf("hash not stable: %s then %s", got, again)
				}
			}
			if got != tc.want {
				t.Errorf("ComputeHash = %q, want %q", got, tc.want)
			}
			if prev, dup := seen[got]; dup {
				t.Errorf("hash %s also for %s", got, prev)
			}
			seen[got] = tc.name
		})
	}
}

func TestEqualIgnoreHash(t *testing.T) {
	a := newDeployment("web", 1, "x").Spec.Template
	b := *a.DeepCopy()
	b.Labels[LabelPodTemplateHash] = "abc"
	c := *a.DeepCopy()
	c.Spec.Containers[0].Image = "y"
	if !equalIgnoreHash(&a, &b) {
		t.Error("templates differing only in pod-template-hash compare unequal")
	}
	if equalIgnoreHash(&a, &c) {
		t.Error("templates with different images compare equal")
	}
}

// TestRunReconcilesOnEvents runs the controller with its workers and checks that
// informer events alone drive a Deployment to Available.
func TestRunReconcilesOnEvents(t *testing.T) {
	e := newRunEnv(t)
	e.create(newDeployment("web", 3, "app:v1"))
	var rs *appsv1.ReplicaSet
	testutil.EventuallyTrue(t, 15*time.Second, "replica set created", func() bool {
		rs = e.rsByImage("app:v1")
		return rs != nil && rsReplicas(rs) == 3
	})
	e.setRSStatus(rs.Name, 3)
	testutil.EventuallyTrue(t, 15*time.Second, "deployment available", func() bool {
		d := e.deployment("web")
		return d.Status.AvailableReplicas == 3 && cond(d, appsv1.DeploymentAvailable).Status == corev1.ConditionTrue &&
			cond(d, appsv1.DeploymentProgressing).Reason == ReasonNewReplicaSetAvailable
	})
	e.editDeployment("web", setImage("app:v2"))
	testutil.EventuallyTrue(t, 15*time.Second, "new replica set created", func() bool { return e.rsByImage("app:v2") != nil })
}

func newRunEnv(t *testing.T) *env {
	t.Helper()
	s := storetest.Start(t)
	inf := cache.NewInformers(s, storetest.Logger(t))
	c := New(Config{Writer: s, Getter: s, Informers: inf, Workers: 2})
	inf.Start(t.Context())
	testutil.Start(t, c.Run)
	return &env{t: t, ctx: t.Context(), s: s, inf: inf, c: c}
}

func TestInvalidDeployments(t *testing.T) {
	tests := []struct {
		name         string
		change       func(*appsv1.Deployment)
		wantTerminal bool
	}{
		{"selector does not match template", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels = map[string]string{"app": "other"}
		}, true},
		{"bad maxSurge", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("lots"))
		}, true},
		{"empty selector is ignored", func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			d := newDeployment("web", 2, "app:v1")
			tc.change(d)
			e.create(d)
			e.settle()
			_, err := e.c.Reconcile(e.ctx, "default/web")
			if got := reconcile.IsTerminal(err); got != tc.wantTerminal || (!tc.wantTerminal && err != nil) {
				t.Fatalf("err = %v, want terminal %v", err, tc.wantTerminal)
			}
			if n := len(e.replicaSets()); n != 0 {
				t.Errorf("%d replica sets created for an invalid deployment", n)
			}
			if !tc.wantTerminal && e.deployment("web").Status.ObservedGeneration != 1 {
				t.Errorf("observedGeneration not recorded")
			}
		})
	}
}

func TestDeletedDeploymentIsLeftToGC(t *testing.T) {
	e := newEnv(t)
	e.create(newDeployment("web", 2, "app:v1"))
	e.converge("web")
	if err := e.s.Delete(e.ctx, res("deployments"), "default", "web", ""); err != nil {
		t.Fatal(err)
	}
	before := e.revision()
	if r := e.reconcile("web"); r != (reconcile.Result{}) {
		t.Errorf("result = %+v, want nothing", r)
	}
	if e.revision() != before || len(e.replicaSets()) != 1 {
		t.Errorf("the controller wrote after its Deployment was deleted")
	}
}

func TestReplicaSetFieldsFollowDeployment(t *testing.T) {
	e := newEnv(t)
	d := newDeployment("web", 2, "app:v1")
	d.Annotations = map[string]string{"team": "payments", "bosun.dev/source": "deploy/web.yaml:1"}
	d.Spec.MinReadySeconds = 5
	rs := e.started(d)
	if rs.Spec.MinReadySeconds != 5 || rs.Annotations["team"] != "payments" {
		t.Errorf("replica set minReadySeconds %d annotations %v", rs.Spec.MinReadySeconds, rs.Annotations)
	}
	if _, ok := rs.Annotations["bosun.dev/source"]; ok {
		t.Errorf("Git provenance annotation copied onto the replica set")
	}
	e.editDeployment("web", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 9 })
	e.converge("web")
	if got := e.replicaSets()[0].Spec.MinReadySeconds; got != 9 {
		t.Errorf("minReadySeconds = %d after change, want 9", got)
	}
	if n := len(e.replicaSets()); n != 1 {
		t.Errorf("minReadySeconds change made a new replica set")
	}
}

func TestReplicaFailureCondition(t *testing.T) {
	e := newEnv(t)
	rs := e.started(newDeployment("web", 2, "app:v1"))
	rs.Status.Conditions = []appsv1.ReplicaSetCondition{{
		Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: ReasonFailedCreate,
		Message: "pods \"web-x\" is forbidden: exceeded quota", LastTransitionTime: metav1.NewTime(t0),
	}}
	if err := e.s.Update(e.ctx, rs); err != nil {
		t.Fatal(err)
	}
	e.converge("web")
	e.wantCondition("web", appsv1.DeploymentReplicaFailure, corev1.ConditionTrue, ReasonFailedCreate)

	rs = e.replicaSets()[0]
	rs.Status.Conditions = nil
	if err := e.s.Update(e.ctx, rs); err != nil {
		t.Fatal(err)
	}
	e.converge("web")
	if c := getCondition(&e.deployment("web").Status, appsv1.DeploymentReplicaFailure); c != nil {
		t.Errorf("ReplicaFailure still set: %+v", c)
	}
}
