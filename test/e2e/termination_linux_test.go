package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// terminationPodStatus returns the status of container name in sts.
func terminationPodStatus(sts []corev1.ContainerStatus, name string) corev1.ContainerStatus {
	for _, s := range sts {
		if s.Name == name {
			return s
		}
	}
	return corev1.ContainerStatus{}
}

// terminationGetPod returns the pod default/name, nil when absent.
func terminationGetPod(t *testing.T, h *nodeHost, name string) *corev1.Pod {
	obj, err := h.client().Get(context.Background(), resource(t, "pods"), "default", name)
	if err != nil {
		return nil
	}
	return obj.(*corev1.Pod)
}

// TestGracefulTermination runs on a real node: a deleted pod is
// Terminating while its containers stop; the container that traps SIGTERM
// logs it and exits 0 at once, the one ignoring SIGTERM is SIGKILLed once
// terminationGracePeriodSeconds (2 s) ran out, and then the agent removes
// the pod from the API.
func TestGracefulTermination(t *testing.T) {
	r := newRepo(t)
	r.write("apps/term/pod.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: term
  namespace: default
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: trap
    image: bosun.local/hello:v1
    command: ["/app", "sleep", "300"]
  - name: stubborn
    image: bosun.local/hello:v1
    command: ["/app", "ignore-term"]
`)
	r.commitAll("a pod to terminate")
	h := newNodeHost(t, r.dir)
	testutil.Eventually(t, 90*time.Second, "both containers to run and trap SIGTERM", func() (bool, string) {
		a, errA := h.bosun("logs", "term", "-c", "trap")
		b, errB := h.bosun("logs", "term", "-c", "stubborn")
		return strings.Contains(a, "SIGTERM ends it") && strings.Contains(b, "ignoring SIGTERM"),
			fmt.Sprintf("trap: %q %v; stubborn: %q %v", a, errA, b, errB)
	})

	c := h.client()
	pods := resource(t, "pods")
	obj, err := c.Get(context.Background(), pods, "default", "term")
	if err != nil {
		t.Fatal(err)
	}
	last := make(chan *corev1.Pod, 1)
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = c.Watch(wctx, pods, "default", "", obj.GetResourceVersion(), func(ev client.Event) error {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == "DELETED" && p.Name == "term" {
				last <- p
				cancel()
			}
			return nil
		})
	}()
	// Removed from Git, the pod is pruned: marked terminating, as a delete.
	r.git("rm", "-q", "apps/term/pod.yaml")
	r.commitAll("remove the pod")
	testutil.Eventually(t, 30*time.Second, "the pod to be terminating", func() (bool, string) {
		p := terminationGetPod(t, h, "term")
		return p == nil || p.DeletionTimestamp != nil, "not yet"
	})
	deleted := time.Now()
	out, err := h.bosun("get", "pods", "term")
	if err != nil || !strings.Contains(out, "Terminating") {
		t.Errorf("bosun get pods term right after the delete: %v\n%s\nwant Terminating", err, out)
	}
	// While stubborn waits for its SIGKILL, trap has logged the SIGTERM.
	testutil.Eventually(t, 10*time.Second, "trap to log the SIGTERM it handled", func() (bool, string) {
		out, err := h.bosun("logs", "term", "-c", "trap")
		return strings.Contains(out, "app sleep: terminated"), fmt.Sprintf("%q %v", out, err)
	})

	var got *corev1.Pod
	select {
	case got = <-last:
	case <-time.After(30 * time.Second):
		t.Fatal("the pod was not removed from the API within 30s of its deletion")
	}
	took := time.Since(deleted)
	if took < 2*time.Second || took > 15*time.Second {
		t.Errorf("the pod was removed %s after the delete, want after the 2s grace period", took)
	}
	trap := terminationPodStatus(got.Status.ContainerStatuses, "trap").State.Terminated
	stubborn := terminationPodStatus(got.Status.ContainerStatuses, "stubborn").State.Terminated
	if trap == nil || trap.ExitCode != 0 {
		t.Errorf("last state of trap = %+v, want exit 0 (it handled SIGTERM)", trap)
	}
	if stubborn == nil || stubborn.ExitCode != 137 {
		t.Errorf("last state of stubborn = %+v, want 137 (SIGKILL)", stubborn)
	} else if d := stubborn.FinishedAt.Sub(deleted.Truncate(time.Second)); d < time.Second || d > 5*time.Second {
		t.Errorf("stubborn was killed %s after the delete, want about 2s", d)
	}
}

// TestInitContainersOnRealNode: init containers run in order, each to
// completion, before the app container, which prints what they wrote.
func TestInitContainersOnRealNode(t *testing.T) {
	r := newRepo(t)
	r.write("apps/init/pod.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: init
  namespace: default
spec:
  restartPolicy: Never
  volumes:
  - name: work
    emptyDir: {}
  initContainers:
  - name: check
    image: bosun.local/hello:v1
    command: ["/app", "exit", "0"]
  - name: first
    image: bosun.local/hello:v1
    command: ["/app", "write", "/work/order", "first"]
    volumeMounts: [{name: work, mountPath: /work}]
  - name: second
    image: bosun.local/hello:v1
    command: ["/app", "write", "/work/order", "second"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: app
    image: bosun.local/hello:v1
    command: ["/app", "cat", "/work/order"]
    volumeMounts: [{name: work, mountPath: /work}]
`)
	r.commitAll("a pod with init containers")
	h := newNodeHost(t, r.dir)
	var p *corev1.Pod
	testutil.Eventually(t, 90*time.Second, "the pod to succeed", func() (bool, string) {
		if p = terminationGetPod(t, h, "init"); p == nil {
			return false, "no pod init (is it in the sync's errors? bosun status)"
		}
		return p.Status.Phase == corev1.PodSucceeded, string(p.Status.Phase)
	})
	out, err := h.bosun("logs", "init", "-c", "app")
	if err != nil || out != "first\nsecond\n" {
		t.Errorf("the app's output = %q, %v; want the init containers' lines in order", out, err)
	}
	for _, st := range p.Status.InitContainerStatuses {
		if st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			t.Errorf("init container %s = %+v, want exited 0", st.Name, st.State)
		}
	}
}
