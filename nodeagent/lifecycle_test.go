package nodeagent_test

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

// execLog records the commands the fake runtime runs in containers
// (hooks), with the fake clock's time.
type execLog struct {
	mu    sync.Mutex
	clk   interface{ Now() time.Time }
	calls []string
	at    []time.Time
	code  map[string]int // exit code by command; default 0
}

func (l *execLog) behavior() runtimetest.Behavior {
	return runtimetest.Behavior{Exec: func(id string, cmd []string, _ io.Reader, _, _ io.Writer) int {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.calls = append(l.calls, strings.Join(cmd, " "))
		l.at = append(l.at, l.clk.Now())
		return l.code[strings.Join(cmd, " ")]
	}}
}

func (l *execLog) ran(cmd string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.Index(l.calls, cmd)
	if i < 0 {
		return time.Time{}, false
	}
	return l.at[i], true
}

func (l *execLog) count(cmd string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		if c == cmd {
			n++
		}
	}
	return n
}

// withExecLog gives e a fake runtime whose images answer exec with l.
func (e *env) withExecLog(images ...string) *execLog {
	l := &execLog{clk: e.clk, code: map[string]int{}}
	bs := map[string]runtimetest.Behavior{}
	for _, img := range images {
		bs[img] = l.behavior()
	}
	e.rt = runtimetest.New(runtimetest.Config{Clock: e.clk, Images: bs})
	return l
}

// markDeleted does what the API server's graceful delete does to a bound
// pod: deletionTimestamp = now + grace, deletionGracePeriodSeconds = grace.
func (e *env) markDeleted(name string, grace int64) {
	e.t.Helper()
	p := e.pod(name)
	if p == nil {
		e.t.Fatalf("pod %s is gone", name)
	}
	ts := metav1.NewTime(e.clk.Now().Add(time.Duration(grace) * time.Second))
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &grace
	if err := e.st.Update(ctx(e.t), p); err != nil {
		e.t.Fatal(err)
	}
}

// lastState watches the pod name from now on and delivers its last state
// when it is deleted.
func (e *env) lastState(name string) <-chan *corev1.Pod {
	e.t.Helper()
	p := e.pod(name)
	out := make(chan *corev1.Pod, 1)
	wctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	go func() {
		_ = e.c.Watch(wctx, podsR, "default", "", p.ResourceVersion, func(ev client.Event) error {
			if pod, ok := ev.Object.(*corev1.Pod); ok && ev.Type == "DELETED" && pod.Name == name {
				out <- pod
				cancel()
			}
			return nil
		})
	}()
	return out
}

// containers returns the pod's containers in the runtime by name.
func (e *env) containers(uid string) map[string][]runtime.Container {
	cs, _ := e.rt.ListContainers(ctx(e.t), runtime.ContainerFilter{PodUID: uid})
	out := map[string][]runtime.Container{}
	for _, c := range cs {
		out[c.Metadata.Name] = append(out[c.Metadata.Name], c)
	}
	return out
}

// latest returns the newest container name of the pod (nil if none).
func (e *env) latest(uid, name string) *runtime.Container {
	cs := e.containers(uid)[name]
	if len(cs) == 0 {
		return nil
	}
	slices.SortFunc(cs, func(a, b runtime.Container) int { return int(a.Metadata.Attempt) - int(b.Metadata.Attempt) })
	return &cs[len(cs)-1]
}

func envVar(k, v string) corev1.EnvVar { return corev1.EnvVar{Name: k, Value: v} }

func statusOf(sts []corev1.ContainerStatus, name string) corev1.ContainerStatus {
	for _, s := range sts {
		if s.Name == name {
			return s
		}
	}
	return corev1.ContainerStatus{}
}

// TestGracefulDeletion: a pod with a deletionTimestamp has its preStop
// hooks run, then SIGTERM; a container ignoring SIGTERM is killed once the
// deletion grace period (10s, counted from when the agent noticed, the
// 3s preStop sleep included) ran out; the last status carries the exit
// codes; then the agent deletes the pod with grace 0.
func TestGracefulDeletion(t *testing.T) {
	e := newEnv(t)
	hooks := e.withExecLog("bosun.local/side:v1")
	e.start()
	p := e.create(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{
			{Name: "app", Image: "bosun.local/hello:v1", Env: []corev1.EnvVar{envVar(runtimetest.EnvIgnoreTerm, "true")},
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 3}}}},
			{Name: "side", Image: "bosun.local/side:v1",
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"drain"}}}}},
		}},
	})
	uid := string(p.UID)
	e.eventually("the pod to run", 0, func() bool { return runningReady(e.pod("web")) })
	last := e.lastState("web")
	t0 := e.clk.Now()
	e.markDeleted("web", 10)

	e.eventually("the preStop exec hook of side", 0, func() bool { _, ok := hooks.ran("drain"); return ok })
	e.eventually("side to stop after its hook", 0, func() bool {
		c := e.latest(uid, "side")
		return c != nil && c.State == runtime.ContainerExited
	})
	// Step the agent's clock until the pod is deleted; app must not stop
	// before the grace period ran out.
	var got *corev1.Pod
	e.eventually("the agent to kill app and delete the pod", 500*time.Millisecond, func() bool {
		if c := e.latest(uid, "app"); c != nil && c.State == runtime.ContainerExited && c.FinishedAt.Sub(t0) < 10*time.Second {
			t.Fatalf("app stopped %s after the deletion, before the 10s grace period ran out", c.FinishedAt.Sub(t0))
		}
		select {
		case got = <-last:
			return true
		default:
			return false
		}
	})
	app := statusOf(got.Status.ContainerStatuses, "app").State.Terminated
	if app == nil {
		t.Fatalf("last status of app = %+v, want terminated", statusOf(got.Status.ContainerStatuses, "app"))
	}
	if took := app.FinishedAt.Sub(t0); took < 10*time.Second || took > 11*time.Second {
		t.Errorf("app killed %s after the deletion, want after 10s (the 3s preStop included)", took)
	}
	if got.Status.Phase != corev1.PodFailed {
		t.Errorf("last phase = %s, want Failed", got.Status.Phase)
	}
	for name, code := range map[string]int32{"app": 137, "side": 143} {
		st := statusOf(got.Status.ContainerStatuses, name)
		if st.State.Terminated == nil || st.State.Terminated.ExitCode != code || st.State.Terminated.Reason != "Error" {
			t.Errorf("last status of %s = %+v, want terminated with %d", name, st.State, code)
		}
	}
	e.eventually("the runtime to forget the pod", 0, func() bool {
		sbs, _ := e.rt.ListPodSandboxes(ctx(t), runtime.SandboxFilter{PodUID: uid})
		return len(sbs) == 0 && len(e.containers(uid)) == 0
	})
}

// TestForceDeletedPodGetsSpecGrace: a pod removed from the API at once is
// killed with its spec's terminationGracePeriodSeconds, preStop first.
func TestForceDeletedPodGetsSpecGrace(t *testing.T) {
	e := newEnv(t)
	hooks := e.withExecLog("bosun.local/hello:v1")
	e.start()
	grace := int64(5)
	p := e.create(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.PodSpec{NodeName: "n1", TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{
			{Name: "app", Image: "bosun.local/hello:v1", Env: []corev1.EnvVar{envVar(runtimetest.EnvIgnoreTerm, "true")},
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"bye"}}}}},
		}},
	})
	uid := string(p.UID)
	e.eventually("the pod to run", 0, func() bool { return runningReady(e.pod("web")) })
	t0 := e.clk.Now()
	if err := e.st.Delete(ctx(t), podsR, "default", "web", ""); err != nil {
		t.Fatal(err)
	}
	e.eventually("the preStop hook", 0, func() bool { _, ok := hooks.ran("bye"); return ok })
	// Step the agent's clock: app must run until 5s have passed, and be
	// gone soon after.
	e.eventually("app to be killed and removed", 500*time.Millisecond, func() bool {
		gone := len(e.containers(uid)) == 0
		if gone && e.clk.Since(t0) < 5*time.Second {
			t.Fatalf("app removed %s after the force delete, before the spec's 5s grace period ran out", e.clk.Since(t0))
		}
		return gone
	})
	if took := e.clk.Since(t0); took > 6*time.Second {
		t.Errorf("app removed %s after the force delete, want soon after the spec's 5s", took)
	}
}

// TestPostStartHook: the postStart hook runs once the container started;
// when it fails the container is killed and restarted.
func TestPostStartHook(t *testing.T) {
	tests := []struct {
		name        string
		code        int
		wantRestart bool
	}{
		{name: "succeeds", code: 0},
		{name: "fails: the container is killed and restarted", code: 1, wantRestart: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			hooks := e.withExecLog("bosun.local/hello:v1")
			hooks.code["warm up"] = tt.code
			e.start()
			p := e.create(&corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
				Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "bosun.local/hello:v1",
					Lifecycle: &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"warm", "up"}}}}}}},
			})
			uid := string(p.UID)
			if !tt.wantRestart {
				e.eventually("the pod to run", 0, func() bool { return runningReady(e.pod("web")) })
				if n := hooks.count("warm up"); n != 1 {
					t.Errorf("postStart ran %d times, want 1", n)
				}
				return
			}
			e.eventually("a restart after the failed hook", time.Second, func() bool {
				c := e.latest(uid, "app")
				return c != nil && c.Metadata.Attempt >= 1 && hooks.count("warm up") >= 2
			})
		})
	}
}

// TestNodeLocalVolumeDir: the agent annotates its Node with the directory
// of node-local persistent volumes.
func TestNodeLocalVolumeDir(t *testing.T) {
	e := newEnv(t)
	var root string
	e.startWith(func(c *nodeagent.Config) { root = c.RootDir })
	e.eventually("the annotation", 0, func() bool {
		obj, err := e.c.Get(ctx(t), nodesR, "", "n1")
		return err == nil && obj.(*corev1.Node).Annotations[nodeagent.AnnotationLocalVolumeDir] == filepath.Join(root, "volumes")
	})
}

// TestAPIDeleteIsGraceful: deleted through the API, a running pod stays
// (terminating) until the agent stopped it, then the agent's own delete
// (grace 0, the pod's UID) removes it.
func TestAPIDeleteIsGraceful(t *testing.T) {
	e := newEnv(t)
	e.start()
	p := e.createPod("web", corev1.RestartPolicyAlways)
	uid := string(p.UID)
	e.eventually("the pod to run", 0, func() bool { return runningReady(e.pod("web")) })
	if err := e.c.Delete(ctx(t), podsR, "default", "web", ""); err != nil {
		t.Fatal(err)
	}
	e.eventually("the pod to be gone from the API and the runtime", 0, func() bool {
		if got := e.pod("web"); got != nil {
			if got.DeletionTimestamp == nil {
				t.Fatal("the API deleted a running pod without marking it terminating first")
			}
			return false
		}
		sbs, _ := e.rt.ListPodSandboxes(ctx(t), runtime.SandboxFilter{PodUID: uid})
		return len(sbs) == 0 && len(e.containers(uid)) == 0
	})
}

// unhealthyProber reports the first instance of every container
// unhealthy once bad is set.
type unhealthyProber struct{ bad atomic.Bool }

func (u *unhealthyProber) Probe(pod *corev1.Pod, podIP string, spec *corev1.Container, c runtime.Container) nodeagent.ProbeResult {
	running := c.State == runtime.ContainerRunning
	res := nodeagent.ProbeResult{Ready: running, Started: running}
	if running && u.bad.Load() && c.Metadata.Attempt == 0 {
		res.Unhealthy, res.Message = true, "Liveness probe failed: test"
	}
	return res
}

// TestLivenessRestartIsGraceful: a container restarted for a failed
// liveness probe runs its preStop hook and gets the probe's
// terminationGracePeriodSeconds (3s here, not the pod's 30s).
func TestLivenessRestartIsGraceful(t *testing.T) {
	e := newEnv(t)
	hooks := e.withExecLog("bosun.local/hello:v1")
	u := &unhealthyProber{}
	e.startWith(func(c *nodeagent.Config) { c.Prober = u })
	three := int64(3)
	p := e.create(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "bosun.local/hello:v1",
			Env: []corev1.EnvVar{envVar(runtimetest.EnvIgnoreTerm, "true")},
			LivenessProbe: &corev1.Probe{TerminationGracePeriodSeconds: &three,
				ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}},
			Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"bye"}}}}}}},
	})
	uid := string(p.UID)
	e.eventually("the pod to run", 0, func() bool { return runningReady(e.pod("web")) })
	first := e.latest(uid, "app").ID
	t0 := e.clk.Now()
	u.bad.Store(true)
	e.agent.Resync(uid)
	e.eventually("the restart", 500*time.Millisecond, func() bool {
		c := e.latest(uid, "app")
		return c != nil && c.Metadata.Attempt == 1
	})
	if _, ok := hooks.ran("bye"); !ok {
		t.Error("the preStop hook did not run before the restart")
	}
	cs, _ := e.rt.ListContainers(ctx(t), runtime.ContainerFilter{ID: first})
	if len(cs) != 1 {
		t.Fatalf("the first container is gone: %+v", cs)
	}
	if took := cs[0].FinishedAt.Sub(t0); took < 3*time.Second || took > 4*time.Second || cs[0].ExitCode != 137 {
		t.Errorf("the first container was killed %s after failing (exit %d), want after the probe's 3s with 137", took, cs[0].ExitCode)
	}
}
