package nodeagent_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

// recording is the fake runtime, keeping every ContainerConfig it was given.
type recording struct {
	*runtimetest.Fake
	mu      sync.Mutex
	configs map[string][]runtime.ContainerConfig // by container name
}

func (r *recording) CreateContainer(ctx context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	r.mu.Lock()
	if r.configs == nil {
		r.configs = map[string][]runtime.ContainerConfig{}
	}
	r.configs[cfg.Metadata.Name] = append(r.configs[cfg.Metadata.Name], cfg)
	r.mu.Unlock()
	return r.Fake.CreateContainer(ctx, sandboxID, cfg)
}

func (r *recording) last(name string) (runtime.ContainerConfig, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.configs[name]
	if len(cs) == 0 {
		return runtime.ContainerConfig{}, false
	}
	return cs[len(cs)-1], true
}

func probePod(name string, ctr corev1.Container) *corev1.Pod {
	if ctr.Name == "" {
		ctr.Name = "app"
	}
	if ctr.Image == "" {
		ctr.Image = "bosun.local/hello:v1"
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{ctr}},
	}
}

func (e *env) create(p *corev1.Pod) *corev1.Pod {
	e.t.Helper()
	if err := e.st.Create(ctx(e.t), p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestReadinessProbe(t *testing.T) {
	e := newEnv(t)
	// The fake gives the pod 127.0.0.2, where the test's server listens:
	// the probe dials the pod IP for real, and stays on the loopback.
	e.rt = runtimetest.New(runtimetest.Config{Clock: e.clk})
	e.podCIDR = "127.0.0.0/30"
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil { // Linux routes all of 127/8 to lo; elsewhere the address may need adding
		testenv.Need(t, func() error {
			return fmt.Errorf("cannot listen on 127.0.0.2 (add it to the loopback interface): %w", err)
		})
	}
	var failing atomic.Bool
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" || failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	port := ln.Addr().(*net.TCPAddr).Port

	e.startWith(func(c *nodeagent.Config) { c.RunProbes = true })
	e.create(probePod("web", corev1.Container{
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}},
		ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 2, ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}},
	}))
	e.eventually("the pod to be Ready", time.Second, func() bool { return runningReady(e.pod("web")) })
	if p := e.pod("web"); p.Status.PodIP != "127.0.0.2" || !appStatus(p).Ready {
		t.Fatalf("podIP %s, ready %v", p.Status.PodIP, appStatus(p).Ready)
	}
	failing.Store(true)
	e.eventually("Ready=False", time.Second, func() bool {
		p := e.pod("web")
		return condition(p, corev1.PodReady) == corev1.ConditionFalse && condition(p, corev1.ContainersReady) == corev1.ConditionFalse &&
			!appStatus(p).Ready && p.Status.Phase == corev1.PodRunning
	})
	if rc := appStatus(e.pod("web")).RestartCount; rc != 0 {
		t.Errorf("restartCount = %d: readiness must not restart", rc)
	}
	failing.Store(false)
	// Back to Ready after one success, written promptly: no clock step
	// beyond the probe period is needed for the status to follow.
	e.eventually("Ready again", time.Second, func() bool { return runningReady(e.pod("web")) })
}

// execImage is an image whose containers answer exec by command: "live",
// "start" and "ready" exit with the code the test holds.
type execCodes struct{ live, start, ready atomic.Int32 }

func execRuntime(e *env, codes *execCodes) *runtimetest.Fake {
	return runtimetest.New(runtimetest.Config{Clock: e.clk, Images: map[string]runtimetest.Behavior{
		"bosun.local/hello:v1": {Exec: func(id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) int {
			switch cmd[0] {
			case "live":
				return int(codes.live.Load())
			case "start":
				return int(codes.start.Load())
			case "ready":
				return int(codes.ready.Load())
			}
			return 127
		}}}})
}

func execProbe(cmd string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{PeriodSeconds: period, FailureThreshold: failures,
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}}}
}

func TestLivenessProbeRestarts(t *testing.T) {
	e := newEnv(t)
	codes := &execCodes{}
	e.rt = execRuntime(e, codes)
	e.startWith(func(c *nodeagent.Config) { c.RunProbes = true })
	e.create(probePod("web", corev1.Container{LivenessProbe: execProbe("live", 1, 3)}))
	e.eventually("the pod to run", time.Second, func() bool { return runningReady(e.pod("web")) })
	codes.live.Store(1)
	var p *corev1.Pod
	e.eventually("a restart", time.Second, func() bool {
		p = e.pod("web")
		return appStatus(p).RestartCount >= 1
	})
	cs := appStatus(p)
	if lt := cs.LastTerminationState.Terminated; lt == nil || lt.Reason != "Error" || lt.ExitCode == 0 {
		t.Errorf("lastState = %+v, want terminated with reason Error and the kill's exit code", cs.LastTerminationState)
	}
	// Still failing: it keeps being restarted (CrashLoopBackOff in between).
	e.eventually("restartCount to grow", time.Second, func() bool { return appStatus(e.pod("web")).RestartCount >= 2 })
	// The kubelet's Events tell the story, about the container.
	for _, w := range []struct{ reason, message string }{
		{"Pulled", `Container image "bosun.local/hello:v1" already present on machine`},
		{"Created", "Created container: app"},
		{"Started", "Started container app"},
		{"Unhealthy", "Liveness probe failed: "},
		{"Killing", "Container app failed liveness probe, will be restarted"},
	} {
		e.eventually("a "+w.reason+" Event", 0, func() bool {
			for _, ev := range eventstest.Find(t, e.st, "default", "web", w.reason) {
				if strings.HasPrefix(ev.Message, w.message) && ev.InvolvedObject.FieldPath == "spec.containers{app}" &&
					ev.Source.Component == "kubelet" && ev.Source.Host == "n1" {
					return true
				}
			}
			return false
		})
	}
	// Healthy again: it stays up.
	codes.live.Store(0)
	e.eventually("running again", time.Second, func() bool { return appStatus(e.pod("web")).State.Running != nil })
	rc := appStatus(e.pod("web")).RestartCount
	e.clk.Step(30 * time.Second)
	e.eventually("a few probe periods", time.Second, func() bool { return e.rt.Calls()["Exec"] > 40 })
	if got := appStatus(e.pod("web")).RestartCount; got != rc {
		t.Errorf("restartCount %d -> %d while healthy", rc, got)
	}
}

func TestStartupProbeGates(t *testing.T) {
	e := newEnv(t)
	codes := &execCodes{}
	codes.start.Store(1)
	codes.live.Store(1) // would restart the container if it ran before startup passed
	e.rt = execRuntime(e, codes)
	e.startWith(func(c *nodeagent.Config) { c.RunProbes = true })
	e.create(probePod("db", corev1.Container{
		StartupProbe:   execProbe("start", 1, 60),
		LivenessProbe:  execProbe("live", 1, 3),
		ReadinessProbe: execProbe("ready", 1, 1),
	}))
	e.eventually("the container to run", time.Second, func() bool {
		p := e.pod("db")
		return p != nil && appStatus(p).State.Running != nil
	})
	start := e.clk.Now()
	e.eventually("20s of failing startup probes", time.Second, func() bool { return e.clk.Since(start) > 20*time.Second })
	p := e.pod("db")
	cs := appStatus(p)
	if cs.RestartCount != 0 || cs.Ready || cs.Started == nil || *cs.Started || condition(p, corev1.PodReady) != corev1.ConditionFalse {
		t.Fatalf("while starting: %+v", cs)
	}
	codes.live.Store(0)
	codes.start.Store(0)
	e.eventually("started and ready", time.Second, func() bool {
		cs := appStatus(e.pod("db"))
		return cs.Started != nil && *cs.Started && cs.Ready
	})
	// A startup probe that fails failureThreshold times restarts the container.
	e2 := newEnv(t)
	codes2 := &execCodes{}
	codes2.start.Store(1)
	e2.rt = execRuntime(e2, codes2)
	e2.startWith(func(c *nodeagent.Config) { c.RunProbes = true })
	e2.create(probePod("slow", corev1.Container{StartupProbe: execProbe("start", 1, 3)}))
	e2.eventually("a restart after the startup probe failed", time.Second, func() bool {
		p := e2.pod("slow")
		return p != nil && appStatus(p).RestartCount >= 1
	})
}
