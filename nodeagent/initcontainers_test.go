package nodeagent_test

import (
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

func exits(after string, code string) []corev1.EnvVar {
	return []corev1.EnvVar{envVar(runtimetest.EnvExitAfter, after), envVar(runtimetest.EnvExitCode, code)}
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

// TestInitContainersRunInOrder: each init container runs to completion
// before the next starts, and the app containers start after the last;
// meanwhile the pod is Pending, not Initialized, its app containers wait
// with PodInitializing.
func TestInitContainersRunInOrder(t *testing.T) {
	e := newEnv(t)
	e.start()
	p := e.create(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways,
			InitContainers: []corev1.Container{
				{Name: "migrate", Image: "bosun.local/hello:v1", Env: exits("5s", "0")},
				{Name: "seed", Image: "bosun.local/hello:v1", Env: exits("5s", "0")},
			},
			Containers: []corev1.Container{{Name: "app", Image: "bosun.local/hello:v1"}}},
	})
	uid := string(p.UID)
	e.eventually("migrate to run, reported", 0, func() bool {
		p := e.pod("web")
		return p != nil && len(p.Status.InitContainerStatuses) == 2 && p.Status.InitContainerStatuses[0].State.Running != nil
	})
	got := e.pod("web")
	if got.Status.Phase != corev1.PodPending {
		t.Errorf("phase while initializing = %s, want Pending", got.Status.Phase)
	}
	if c := podCondition(got, corev1.PodInitialized); c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotInitialized" ||
		c.Message != "containers with incomplete status: [migrate seed]" {
		t.Errorf("Initialized = %+v", c)
	}
	if w := got.Status.InitContainerStatuses[1].State.Waiting; w == nil || w.Reason != "PodInitializing" {
		t.Errorf("seed state = %+v, want waiting PodInitializing", got.Status.InitContainerStatuses[1].State)
	}
	if w := statusOf(got.Status.ContainerStatuses, "app").State.Waiting; w == nil || w.Reason != "PodInitializing" {
		t.Errorf("app state = %+v, want waiting PodInitializing", statusOf(got.Status.ContainerStatuses, "app").State)
	}
	if c := e.latest(uid, "seed"); c != nil {
		t.Fatalf("seed was created while migrate runs: %+v", c)
	}

	e.eventually("the pod to run", time.Second, func() bool { return runningReady(e.pod("web")) })
	migrate, seed, app := e.latest(uid, "migrate"), e.latest(uid, "seed"), e.latest(uid, "app")
	if seed.CreatedAt.Before(migrate.FinishedAt) || app.CreatedAt.Before(seed.FinishedAt) {
		t.Errorf("order: migrate ended %s, seed created %s and ended %s, app created %s",
			migrate.FinishedAt, seed.CreatedAt, seed.FinishedAt, app.CreatedAt)
	}
	got = e.pod("web")
	for _, st := range got.Status.InitContainerStatuses {
		if st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 || st.State.Terminated.Reason != "Completed" {
			t.Errorf("init container %s state = %+v, want terminated Completed", st.Name, st.State)
		}
	}
	if c := podCondition(got, corev1.PodInitialized); c.Status != corev1.ConditionTrue {
		t.Errorf("Initialized = %+v, want True", c)
	}
	// Initialized, the pod does not run its init containers again.
	e.clk.Step(time.Minute)
	if c := e.latest(uid, "migrate"); c.Metadata.Attempt != 0 {
		t.Errorf("migrate ran again: attempt %d", c.Metadata.Attempt)
	}
}

// TestInitContainerFails: a failing init container runs again (with a
// back-off: CrashLoopBackOff) unless the pod's restartPolicy is Never, when
// the pod fails; the app containers never start.
func TestInitContainerFails(t *testing.T) {
	tests := []struct {
		name   string
		policy corev1.RestartPolicy
	}{
		{name: "Always retries", policy: corev1.RestartPolicyAlways},
		{name: "OnFailure retries", policy: corev1.RestartPolicyOnFailure},
		{name: "Never fails the pod", policy: corev1.RestartPolicyNever},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.start()
			p := e.create(&corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
				Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: tt.policy,
					InitContainers: []corev1.Container{{Name: "migrate", Image: "bosun.local/hello:v1", Env: exits("1s", "3")}},
					Containers:     []corev1.Container{{Name: "app", Image: "bosun.local/hello:v1"}}},
			})
			uid := string(p.UID)
			if tt.policy == corev1.RestartPolicyNever {
				e.eventually("the pod to fail", time.Second, func() bool {
					p := e.pod("web")
					return p != nil && p.Status.Phase == corev1.PodFailed
				})
				st := e.pod("web").Status.InitContainerStatuses[0]
				if st.State.Terminated == nil || st.State.Terminated.ExitCode != 3 {
					t.Errorf("migrate = %+v, want terminated with 3", st.State)
				}
			} else {
				e.eventually("migrate to wait in CrashLoopBackOff after a restart", time.Second, func() bool {
					p := e.pod("web")
					if p == nil || len(p.Status.InitContainerStatuses) == 0 {
						return false
					}
					st := p.Status.InitContainerStatuses[0]
					return st.RestartCount >= 1 && st.State.Waiting != nil && st.State.Waiting.Reason == "CrashLoopBackOff" &&
						p.Status.Phase == corev1.PodPending
				})
			}
			if c := e.latest(uid, "app"); c != nil {
				t.Errorf("app was created though initialization failed: %+v", c)
			}
		})
	}
}

// TestSidecar: an init container with restartPolicy Always starts before
// the next init container and keeps running next to the app (counted in
// ready containers); restarted when it exits; stopped after the app when
// the pod is deleted.
func TestSidecar(t *testing.T) {
	e := newEnv(t)
	e.start()
	always := corev1.ContainerRestartPolicyAlways
	p := e.create(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.PodSpec{NodeName: "n1",
			InitContainers: []corev1.Container{
				{Name: "proxy", Image: "bosun.local/side:v1", RestartPolicy: &always, Env: exits("30s", "1")},
				{Name: "migrate", Image: "bosun.local/hello:v1", Env: exits("2s", "0")},
			},
			Containers: []corev1.Container{{Name: "app", Image: "bosun.local/hello:v1",
				Env: []corev1.EnvVar{envVar(runtimetest.EnvIgnoreTerm, "true")}}}},
	})
	uid := string(p.UID)
	e.eventually("the pod to run", 500*time.Millisecond, func() bool { return runningReady(e.pod("web")) })
	proxy, migrate := e.latest(uid, "proxy"), e.latest(uid, "migrate")
	if migrate.CreatedAt.Before(proxy.StartedAt) {
		t.Errorf("migrate created %s, before proxy started %s", migrate.CreatedAt, proxy.StartedAt)
	}
	if proxy.Metadata.Attempt == 0 && proxy.State != runtime.ContainerRunning {
		t.Errorf("proxy = %s after initialization, want running", proxy.State)
	}
	got := e.pod("web")
	if st := got.Status.InitContainerStatuses[0]; !st.Ready || st.Started == nil || !*st.Started {
		t.Errorf("proxy status = ready %v started %v, want both", st.Ready, st.Started)
	}

	e.eventually("proxy to be restarted after it exits", time.Second, func() bool {
		c := e.latest(uid, "proxy")
		return c != nil && c.Metadata.Attempt >= 1 && c.State == runtime.ContainerRunning
	})
	if c := e.latest(uid, "app"); c.Metadata.Attempt != 0 || c.State != runtime.ContainerRunning {
		t.Errorf("app = attempt %d %s after the sidecar restarted, want the first still running", c.Metadata.Attempt, c.State)
	}

	// Deleted with 4s of grace: app (ignoring SIGTERM) is killed at 4s,
	// proxy only after it.
	last := e.lastState("web")
	e.markDeleted("web", 4)
	var final *corev1.Pod
	e.eventually("the pod to be deleted", 500*time.Millisecond, func() bool {
		if c := e.latest(uid, "proxy"); c != nil && c.State == runtime.ContainerExited {
			if a := e.latest(uid, "app"); a != nil && a.State == runtime.ContainerRunning {
				t.Fatal("proxy stopped while app still runs")
			}
		}
		select {
		case final = <-last:
			return true
		default:
			return false
		}
	})
	app, side := statusOf(final.Status.ContainerStatuses, "app").State.Terminated,
		statusOf(final.Status.InitContainerStatuses, "proxy").State.Terminated
	if app == nil || side == nil || side.FinishedAt.Before(&app.FinishedAt) || app.ExitCode != 137 {
		t.Errorf("last states: app %+v, proxy %+v; want app killed (137), proxy stopped after it", app, side)
	}
}

// gateProber reports containers named gated as not started until open is
// set; every other running container is started and ready.
type gateProber struct {
	gated string
	open  atomic.Bool
}

func (g *gateProber) Probe(pod *corev1.Pod, podIP string, spec *corev1.Container, c runtime.Container) nodeagent.ProbeResult {
	running := c.State == runtime.ContainerRunning
	started := running && (spec.Name != g.gated || g.open.Load())
	return nodeagent.ProbeResult{Ready: started, Started: started}
}

// TestSidecarStartupGatesNextInit: the init container after a sidecar
// waits until the sidecar is started (its startupProbe passed), not merely
// running.
func TestSidecarStartupGatesNextInit(t *testing.T) {
	e := newEnv(t)
	g := &gateProber{gated: "proxy"}
	e.startWith(func(c *nodeagent.Config) { c.Prober = g })
	always := corev1.ContainerRestartPolicyAlways
	p := e.create(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.PodSpec{NodeName: "n1",
			InitContainers: []corev1.Container{
				{Name: "proxy", Image: "bosun.local/side:v1", RestartPolicy: &always},
				{Name: "migrate", Image: "bosun.local/hello:v1", Env: exits("1s", "0")},
			},
			Containers: []corev1.Container{{Name: "app", Image: "bosun.local/hello:v1"}}},
	})
	uid := string(p.UID)
	e.eventually("proxy to run", 0, func() bool {
		c := e.latest(uid, "proxy")
		return c != nil && c.State == runtime.ContainerRunning
	})
	for range 5 { // a few syncs and relists while proxy runs, not started
		e.clk.Step(time.Second)
		syncs := nodeagent.PodSyncs(e.agent, uid)
		e.agent.Resync(uid)
		e.eventually("a sync", 0, func() bool { return nodeagent.PodSyncs(e.agent, uid) > syncs })
	}
	if c := e.latest(uid, "migrate"); c != nil {
		t.Fatalf("migrate was created before proxy started: %+v", c)
	}
	if got := e.pod("web"); got != nil && len(got.Status.InitContainerStatuses) > 0 {
		if st := got.Status.InitContainerStatuses[0]; st.Started == nil || *st.Started {
			t.Errorf("proxy reported started = %v before its startup probe passed", st.Started)
		}
	}
	g.open.Store(true)
	e.agent.Resync(uid)
	e.eventually("the pod to run once proxy started", time.Second, func() bool { return runningReady(e.pod("web")) })
}
