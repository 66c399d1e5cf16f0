package probe

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Kubernetes' probe defaults, used for zero fields of a probe.
const (
	DefaultPeriod           = 10 * time.Second
	DefaultTimeout          = 1 * time.Second
	DefaultSuccessThreshold = 1
	DefaultFailureThreshold = 3
)

// Kind is the kind of a probe.
type Kind string

// ReasonUnhealthy is the reason of the Event of a failed probe.
const ReasonUnhealthy = "Unhealthy"

// title returns k capitalized, as messages begin: "Liveness".
func (k Kind) title() string {
	if k == "" {
		return ""
	}
	return strings.ToUpper(string(k[:1])) + string(k[1:])
}

// The kinds of probes.
const (
	Liveness  Kind = "liveness"
	Readiness Kind = "readiness"
	Startup   Kind = "startup"
)

// Status is what the probes of one running container say.
type Status struct {
	// Ready: the readiness probe passes (or there is none) and the container
	// has started.
	Ready bool
	// Started: the startup probe has passed (or there is none).
	Started bool
	// Unhealthy: the liveness probe, or the startup probe, failed
	// failureThreshold times in a row: the container must be restarted.
	Unhealthy bool
	// Message says which probe failed last, and why.
	Message string
}

// Config configures a Manager.
type Config struct {
	// Clock drives the probe periods and initial delays; default the real
	// clock. Each run's timeout is real time.
	Clock clock.WithTicker
	// Logger receives probe failures; nil discards.
	Logger *slog.Logger
	// Execer runs exec probes (the runtime, when it can); nil makes exec
	// probes fail.
	Execer Execer
	// Dial opens httpGet and tcpSocket connections; default net.Dialer.
	// Tests redirect it.
	Dial DialFunc
	// OnChange is called (from a worker goroutine, without locks held) with
	// a pod's UID when a result of one of its containers changed.
	OnChange func(podUID string)
	// Metrics, when not nil, receives prober_probe_total{probe_type,result}:
	// every run of a probe, "successful" or "failed".
	Metrics prometheus.Registerer
	// Recorder receives an Unhealthy Warning Event about Target.Ref for
	// every failed run of a probe ("Readiness probe failed: ..."), as the
	// kubelet writes them; repeats aggregate into one Event's count. nil
	// records none.
	Recorder *events.Recorder
}

// Manager runs the probes of running containers: one worker goroutine per
// container and probe kind, started the first time Status sees the
// container, stopped by Retain, ForgetPod or Stop. It is safe for
// concurrent use.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	checker *Checker
	probes  *prometheus.CounterVec // nil without Config.Metrics

	mu      sync.Mutex
	stopped bool
	byID    map[string]*containerProbes // by container id
}

// containerProbes holds the workers and results of one container.
type containerProbes struct {
	podUID  string
	workers map[Kind]*worker
	stop    chan struct{}
}

// worker runs one probe of one container. Its fields after the first
// block are guarded by Manager.mu.
type worker struct {
	m      *Manager
	kind   Kind
	probe  *corev1.Probe
	target Target
	cp     *containerProbes

	ok      bool // the current result
	onHold  bool // liveness or startup failed: no more runs until the container is replaced
	succ    int  // consecutive successes
	fail    int  // consecutive failures
	message string
}

// NewManager returns a Manager.
func NewManager(cfg Config) *Manager {
	defaults.Clock(&cfg.Clock)
	defaults.Logger(&cfg.Logger)
	m := &Manager{
		cfg:     cfg,
		log:     cfg.Logger,
		checker: &Checker{Execer: cfg.Execer, Dial: cfg.Dial},
		byID:    map[string]*containerProbes{},
	}
	if cfg.Metrics != nil {
		m.probes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "prober_probe_total",
			Help: "Cumulative number of probe runs, by probe type (Liveness, Readiness, Startup) and result."},
			[]string{"probe_type", "result"})
		cfg.Metrics.MustRegister(m.probes)
	}
	return m
}

// Status returns the current results of t's probes. The first call for a
// container starts its workers; it never blocks on a probe. A container
// without probes is started and ready.
func (m *Manager) Status(t Target) Status {
	ctr := t.Container
	if ctr == nil || (ctr.LivenessProbe == nil && ctr.ReadinessProbe == nil && ctr.StartupProbe == nil) {
		return Status{Ready: true, Started: true}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := m.byID[t.ContainerID]
	if cp == nil && !m.stopped {
		cp = &containerProbes{podUID: t.PodUID, workers: map[Kind]*worker{}, stop: make(chan struct{})}
		for kind, p := range map[Kind]*corev1.Probe{Liveness: ctr.LivenessProbe, Readiness: ctr.ReadinessProbe, Startup: ctr.StartupProbe} {
			if p == nil {
				continue
			}
			// Liveness passes until it fails; readiness and startup fail until they pass.
			w := &worker{m: m, kind: kind, probe: p, target: t, cp: cp, ok: kind == Liveness}
			cp.workers[kind] = w
		}
		m.byID[t.ContainerID] = cp
		for _, w := range cp.workers {
			go w.run()
		}
	}
	st := Status{Ready: true, Started: true}
	if cp == nil {
		return Status{}
	}
	if w := cp.workers[Startup]; w != nil {
		st.Started = w.ok
		if w.onHold {
			st.Unhealthy, st.Message = true, "Startup probe failed: "+w.message
		}
	}
	if w := cp.workers[Readiness]; w != nil {
		st.Ready = w.ok
		if !w.ok && w.message != "" {
			st.Message = "Readiness probe failed: " + w.message
		}
	}
	if w := cp.workers[Liveness]; w != nil && !w.ok {
		st.Unhealthy, st.Message = true, "Liveness probe failed: "+w.message
	}
	st.Ready = st.Ready && st.Started
	return st
}

// Retain stops the workers of the pod's containers whose ids are not in
// running (they exited or were removed).
func (m *Manager) Retain(podUID string, running []string) {
	keep := make(map[string]bool, len(running))
	for _, id := range running {
		keep[id] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, cp := range m.byID {
		if cp.podUID == podUID && !keep[id] {
			close(cp.stop)
			delete(m.byID, id)
		}
	}
}

// ForgetPod stops the workers of every container of the pod.
func (m *Manager) ForgetPod(podUID string) { m.Retain(podUID, nil) }

// Stop stops every worker; Status then starts no new ones.
func (m *Manager) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	for id, cp := range m.byID {
		close(cp.stop)
		delete(m.byID, id)
	}
}

// Workers returns how many probe workers run (for tests and metrics).
func (m *Manager) Workers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, cp := range m.byID {
		n += len(cp.workers)
	}
	return n
}

func (w *worker) run() {
	clk := w.m.cfg.Clock
	period := time.Duration(w.probe.PeriodSeconds) * time.Second
	defaults.Positive(&period, DefaultPeriod)
	if delay := time.Duration(w.probe.InitialDelaySeconds)*time.Second - clk.Since(w.target.StartedAt); delay > 0 {
		t := clk.NewTimer(delay)
		select {
		case <-w.cp.stop:
			t.Stop()
			return
		case <-t.C():
		}
	}
	tick := clk.NewTicker(period)
	defer tick.Stop()
	for {
		if !w.once() {
			return
		}
		select {
		case <-w.cp.stop:
			return
		case <-tick.C():
		}
	}
}

// once runs the probe if it should run now and records the outcome; it
// returns false when the worker has nothing left to do.
func (w *worker) once() bool {
	m := w.m
	m.mu.Lock()
	if w.kind == Startup && w.ok {
		m.mu.Unlock()
		return false // started: the startup probe is done
	}
	if w.onHold {
		m.mu.Unlock()
		return true
	}
	if s := w.cp.workers[Startup]; w.kind != Startup && s != nil && !s.ok {
		m.mu.Unlock()
		return true // liveness and readiness wait for the startup probe
	}
	m.mu.Unlock()

	out := m.checker.Check(context.Background(), w.probe, w.target)
	if m.probes != nil {
		result := "successful"
		if !out.OK {
			result = "failed"
		}
		m.probes.WithLabelValues(w.kind.title(), result).Inc()
	}

	m.mu.Lock()
	select {
	case <-w.cp.stop:
		m.mu.Unlock()
		return false
	default:
	}
	was := w.ok
	successThreshold := int(w.probe.SuccessThreshold)
	if successThreshold <= 0 || w.kind != Readiness {
		successThreshold = DefaultSuccessThreshold // must be 1 for liveness and startup
	}
	failureThreshold := int(w.probe.FailureThreshold)
	defaults.Positive(&failureThreshold, DefaultFailureThreshold)
	if out.OK {
		w.succ, w.fail = w.succ+1, 0
		if w.succ >= successThreshold {
			w.ok, w.message = true, ""
		}
	} else {
		w.fail, w.succ = w.fail+1, 0
		w.message = out.Message
		if w.fail >= failureThreshold {
			w.ok = false
			if w.kind != Readiness {
				w.onHold = true
			}
		}
	}
	changed := was != w.ok || (w.kind == Startup && w.onHold && w.fail == failureThreshold)
	uid, onHold, fails, ok := w.cp.podUID, w.onHold, w.fail, w.ok
	m.mu.Unlock()

	if !out.OK {
		m.cfg.Recorder.Eventf(w.target.Ref, corev1.EventTypeWarning, ReasonUnhealthy, "%s probe failed: %s", w.kind.title(), out.Message)
		m.log.Debug("probe failed", "probe", string(w.kind), "podUID", uid, "container", w.target.Container.Name,
			"failures", fails, "message", out.Message)
	}
	if changed {
		if !ok {
			m.log.Info("probe result changed", "probe", string(w.kind), "podUID", uid, "container", w.target.Container.Name,
				"ok", false, "message", out.Message, "unhealthy", onHold)
		}
		if m.cfg.OnChange != nil {
			m.cfg.OnChange(uid)
		}
	}
	return true
}
