package probe_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/probe"
)

// server starts an httptest server on 127.0.0.1 and returns its port.
func server(t *testing.T, h http.HandlerFunc) int {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	n, _ := strconv.Atoi(port)
	return n
}

type fakeExec struct {
	mu   sync.Mutex
	code int
	err  error
	out  string
	got  []string
}

func (f *fakeExec) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append([]string{id}, cmd...)
	_, _ = io.WriteString(stdout, f.out)
	return f.code, f.err
}

func (f *fakeExec) set(code int) {
	f.mu.Lock()
	f.code = code
	f.mu.Unlock()
}

func TestCheck(t *testing.T) {
	var gotHost, gotHeader, gotPath atomic.Value
	port := server(t, func(w http.ResponseWriter, r *http.Request) {
		gotHost.Store(r.Host)
		gotHeader.Store(r.Header.Get("X-Probe"))
		gotPath.Store(r.URL.RequestURI())
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(200)
		case "/redirect":
			http.Redirect(w, r, "http://10.255.255.1/elsewhere", http.StatusFound)
		default:
			w.WriteHeader(503)
			_, _ = io.WriteString(w, "not ready yet")
		}
	})
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	_, tlsPort, _ := net.SplitHostPort(tlsSrv.Listener.Addr().String())
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	ctr := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	ex := &fakeExec{}
	c := &probe.Checker{Execer: ex}
	target := probe.Target{PodIP: "127.0.0.1", ContainerID: "c1", Container: ctr}
	httpProbe := func(path string, p intstr.IntOrString, h ...corev1.HTTPHeader) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: p, HTTPHeaders: h}}}
	}
	for _, tc := range []struct {
		name    string
		probe   *corev1.Probe
		exec    int
		ok      bool
		message string
	}{
		{name: "http 200", probe: httpProbe("/ok", intstr.FromInt(port)), ok: true},
		{name: "http by port name", probe: httpProbe("/ok", intstr.FromString("http")), ok: true},
		{name: "http 503", probe: httpProbe("/fail", intstr.FromInt(port)), message: "statuscode: 503: not ready yet"},
		{name: "http redirect is success", probe: httpProbe("/redirect", intstr.FromInt(port)), ok: true},
		{name: "http unknown port name", probe: httpProbe("/ok", intstr.FromString("metrics")), message: `no port named "metrics"`},
		{name: "http refused", probe: httpProbe("/ok", intstr.FromInt(closedPort)), message: "refused"},
		{name: "https insecure", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/", Port: intstr.FromString(tlsPort), Scheme: corev1.URISchemeHTTPS}}}, ok: true},
		{name: "tcp open", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}}, ok: true},
		{name: "tcp closed", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(closedPort)}}}, message: "refused"},
		{name: "exec 0", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}}}, ok: true},
		{name: "exec 1", exec: 1, probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}}}, message: `command "false" exited with 1`},
		{name: "grpc", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 1}}}, message: "grpc probes are not supported"},
		{name: "no handler", probe: &corev1.Probe{}, message: "no handler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex.set(tc.exec)
			out := c.Check(context.Background(), tc.probe, target)
			if out.OK != tc.ok || !strings.Contains(out.Message, tc.message) {
				t.Errorf("Check = %+v, want ok=%v and a message containing %q", out, tc.ok, tc.message)
			}
		})
	}

	// Headers: a custom one, and Host.
	out := c.Check(context.Background(), httpProbe("/ok?x=1", intstr.FromInt(port),
		corev1.HTTPHeader{Name: "X-Probe", Value: "yes"}, corev1.HTTPHeader{Name: "Host", Value: "web.example"}), target)
	if !out.OK || gotHeader.Load() != "yes" || gotHost.Load() != "web.example" || gotPath.Load() != "/ok?x=1" {
		t.Errorf("headers: %+v, X-Probe=%v Host=%v path=%v", out, gotHeader.Load(), gotHost.Load(), gotPath.Load())
	}
	// Exec gets the container id and command.
	ex.set(0)
	c.Check(context.Background(), &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"ls", "/"}}}}, target)
	if strings.Join(ex.got, " ") != "c1 ls /" {
		t.Errorf("exec got %v", ex.got)
	}
	// Exec without an Execer fails clearly.
	out = (&probe.Checker{}).Check(context.Background(), &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}, target)
	if out.OK || !strings.Contains(out.Message, "cannot") {
		t.Errorf("exec without Execer = %+v", out)
	}
	// Exec error.
	ex.err = errors.New("no such container")
	out = c.Check(context.Background(), &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}, target)
	if out.OK || !strings.Contains(out.Message, "no such container") {
		t.Errorf("exec error = %+v", out)
	}
}

// TestCheckTimeout: a server that does not answer fails the probe when its
// timeout passes. It runs in a synctest bubble
// with connections over net.Pipe, so the timeout passes in virtual time
// and is checked exactly.
func TestCheckTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		seconds int32 // the probe's timeoutSeconds
		want    time.Duration
	}{
		{name: "default", want: probe.DefaultTimeout},
		{name: "timeoutSeconds", seconds: 3, want: 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dial := func(ctx context.Context, network, address string) (net.Conn, error) {
					client, server := net.Pipe()
					go func() {
						defer server.Close()
						if _, err := http.ReadRequest(bufio.NewReader(server)); err != nil {
							return
						}
						// No answer: wait until the probe gives up and closes.
						_, _ = io.Copy(io.Discard, server)
					}()
					return client, nil
				}
				c := &probe.Checker{Dial: dial}
				p := &corev1.Probe{TimeoutSeconds: tc.seconds, ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt(8080)}}}
				start := time.Now()
				out := c.Check(t.Context(), p, probe.Target{PodIP: "10.244.0.5"})
				if took := time.Since(start); took != tc.want {
					t.Errorf("Check returned after %v, want the timeout, %v", took, tc.want)
				}
				if out.OK || !strings.Contains(out.Message, "deadline exceeded") {
					t.Errorf("Check = %+v, want a failure with deadline exceeded", out)
				}
			})
		})
	}
}

// mgrEnv is a Manager on a fake clock probing an exec fake.
type mgrEnv struct {
	t       *testing.T
	clk     *clocktesting.FakeClock
	m       *probe.Manager
	ex      map[string]*fakeExec // by command
	changes atomic.Int64
}

// cmdExec answers by the command's first word, so that one container's
// probes can be steered apart.
type cmdExec struct{ e *mgrEnv }

func (c cmdExec) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) (int, error) {
	return c.e.ex[cmd[0]].Exec(ctx, id, cmd, stdin, stdout, stderr, tty)
}

func newMgr(t *testing.T) *mgrEnv {
	e := &mgrEnv{t: t, clk: clocktesting.NewFakeClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)),
		ex: map[string]*fakeExec{"live": {}, "ready": {}, "start": {}}}
	e.m = probe.NewManager(probe.Config{Clock: e.clk, Execer: cmdExec{e}, OnChange: func(string) { e.changes.Add(1) }})
	t.Cleanup(e.m.Stop)
	return e
}

func execProbe(cmd string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}}}
}

// until waits with testutil.EventuallyTrue until cond holds (15s of real
// time at most), stepping the clock by step after each poll that found it
// false while a worker waits on the clock; it returns how far the clock
// moved.
func (e *mgrEnv) until(what string, step time.Duration, cond func() bool) time.Duration {
	e.t.Helper()
	start := e.clk.Now()
	testutil.EventuallyTrue(e.t, 15*time.Second, what, func() bool {
		if cond() {
			return true
		}
		if e.clk.HasWaiters() {
			e.clk.Step(step)
		}
		return false
	})
	return e.clk.Since(start)
}

func TestReadinessThresholds(t *testing.T) {
	e := newMgr(t)
	ready := execProbe("ready")
	ready.PeriodSeconds, ready.SuccessThreshold, ready.FailureThreshold, ready.InitialDelaySeconds = 2, 2, 2, 5
	ctr := &corev1.Container{Name: "app", ReadinessProbe: ready}
	tg := probe.Target{PodUID: "p1", ContainerID: "c1", Container: ctr, StartedAt: e.clk.Now()}
	if st := e.m.Status(tg); st.Ready || !st.Started || st.Unhealthy {
		t.Fatalf("before any probe: %+v, want not ready, started, healthy", st)
	}
	took := e.until("ready", time.Second, func() bool { return e.m.Status(tg).Ready })
	// initial delay 5s, then two successes 2s apart.
	if took < 7*time.Second {
		t.Errorf("ready after %v, want >= 7s (delay 5s + 2 periods)", took)
	}
	e.ex["ready"].set(1)
	took = e.until("unready", time.Second, func() bool { return !e.m.Status(tg).Ready })
	if took < 2*time.Second {
		t.Errorf("unready after %v, want >= 2s (2 failures)", took)
	}
	if st := e.m.Status(tg); !strings.Contains(st.Message, "Readiness probe failed") || st.Unhealthy {
		t.Errorf("status = %+v", st)
	}
	if e.changes.Load() < 2 {
		t.Errorf("OnChange called %d times, want >= 2", e.changes.Load())
	}
	e.ex["ready"].set(0)
	e.until("ready again", time.Second, func() bool { return e.m.Status(tg).Ready })
}

func TestLivenessAndStartup(t *testing.T) {
	e := newMgr(t)
	live, start := execProbe("live"), execProbe("start")
	live.PeriodSeconds, start.PeriodSeconds, start.FailureThreshold = 1, 1, 30
	ctr := &corev1.Container{Name: "app", LivenessProbe: live, StartupProbe: start, ReadinessProbe: execProbe("ready")}
	tg := probe.Target{PodUID: "p1", ContainerID: "c1", Container: ctr, StartedAt: e.clk.Now()}
	e.ex["start"].set(1)
	e.ex["live"].set(1) // would fail: but it must not run before startup passes
	if st := e.m.Status(tg); st.Started || st.Ready || st.Unhealthy {
		t.Fatalf("at start: %+v", st)
	}
	e.until("a few startup failures", time.Second, func() bool { return e.clk.Since(tg.StartedAt) >= 5*time.Second })
	if st := e.m.Status(tg); st.Started || st.Unhealthy {
		t.Fatalf("while starting: %+v, want not started and healthy (liveness gated)", st)
	}
	e.ex["start"].set(0)
	e.until("started", time.Second, func() bool { return e.m.Status(tg).Started })
	took := e.until("unhealthy", time.Second, func() bool { return e.m.Status(tg).Unhealthy })
	if took < 2*time.Second {
		t.Errorf("unhealthy after %v, want 3 failures 1s apart", took)
	}
	if st := e.m.Status(tg); !strings.Contains(st.Message, "Liveness probe failed") {
		t.Errorf("message = %q", st.Message)
	}
	// The replacement container starts with fresh results.
	e.m.Retain("p1", []string{"c2"})
	tg2 := tg
	tg2.ContainerID = "c2"
	if st := e.m.Status(tg2); st.Unhealthy || st.Started {
		t.Errorf("new container: %+v", st)
	}
	e.m.ForgetPod("p1")
	if n := e.m.Workers(); n != 0 {
		t.Errorf("%d workers after ForgetPod", n)
	}
}

func TestStartupFailureIsUnhealthy(t *testing.T) {
	e := newMgr(t)
	start := execProbe("start")
	start.PeriodSeconds, start.FailureThreshold = 1, 2
	tg := probe.Target{PodUID: "p1", ContainerID: "c1", Container: &corev1.Container{Name: "app", StartupProbe: start}, StartedAt: e.clk.Now()}
	e.ex["start"].set(1)
	e.m.Status(tg)
	e.until("unhealthy", time.Second, func() bool { return e.m.Status(tg).Unhealthy })
	if st := e.m.Status(tg); !strings.Contains(st.Message, "Startup probe failed") {
		t.Errorf("status = %+v", st)
	}
}

func TestNoProbesAndDefaults(t *testing.T) {
	e := newMgr(t)
	st := e.m.Status(probe.Target{PodUID: "p", ContainerID: "c", Container: &corev1.Container{Name: "app"}})
	if !st.Ready || !st.Started || st.Unhealthy || e.m.Workers() != 0 {
		t.Errorf("no probes: %+v, %d workers", st, e.m.Workers())
	}
	// Default period 10s and failureThreshold 3: a liveness probe fails
	// after the 3rd run, at 20s.
	e.ex["live"].set(1)
	tg := probe.Target{PodUID: "p", ContainerID: "c2", Container: &corev1.Container{Name: "app", LivenessProbe: execProbe("live")}, StartedAt: e.clk.Now()}
	e.m.Status(tg)
	took := e.until("unhealthy", time.Second, func() bool { return e.m.Status(tg).Unhealthy })
	if took < 20*time.Second || took > 40*time.Second {
		t.Errorf("unhealthy after %v, want about 20s", took)
	}
}
