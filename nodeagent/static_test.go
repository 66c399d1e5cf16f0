package nodeagent_test

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
	"github.com/bosun-dev/bosun/nodeagent/staticpods"
)

const staticPod = `apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels: {app: %s}
spec:
  containers:
  - name: app
    image: %s
%s`

func writeManifest(t *testing.T, dir, file, name, image, env string) {
	t.Helper()
	tmp := filepath.Join(dir, ".tmp-"+file)
	if err := os.WriteFile(tmp, fmt.Appendf(nil, staticPod, name, name, image, env), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, file)); err != nil {
		t.Fatal(err)
	}
}

// running returns the running containers of the static pod named name
// (as the runtime has them), by pod UID.
func (e *env) runningStatic(name string) map[string][]runtime.Container {
	cs, _ := e.rt.ListContainers(ctx(e.t), runtime.ContainerFilter{State: runtime.ContainerRunning,
		Labels: map[string]string{runtime.LabelPodName: name}})
	out := map[string][]runtime.Container{}
	for _, c := range cs {
		out[c.PodUID] = append(out[c.PodUID], c)
	}
	return out
}

// within waits for cond for at most d of real time, stepping the fake
// clock by 100ms between polls.
func (e *env) within(what string, d time.Duration, cond func() bool) {
	e.t.Helper()
	e.waitStepping(d, what, 100*time.Millisecond, cond)
}

func TestStaticPods(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	logs := &testutil.SyncBuffer{}
	writeManifest(t, dir, "db.yaml", "db", "postgres:16", "")
	writeManifest(t, dir, "cache.yml", "cache", "redis:7", "")
	e.startWith(func(c *nodeagent.Config) {
		c.PodManifestPath = dir
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})

	// Both run, and their mirror pods appear in the API.
	e.within("the static pods to run", 5*time.Second, func() bool {
		return len(e.runningStatic("db-n1")) == 1 && len(e.runningStatic("cache-n1")) == 1
	})
	var mirror *corev1.Pod
	e.eventually("the mirror pod to be Running", 0, func() bool {
		mirror = e.pod("db-n1")
		return runningReady(mirror)
	})
	var uid string
	for u := range e.runningStatic("db-n1") {
		uid = u
	}
	if mirror.Annotations[staticpods.AnnotationConfigMirror] != uid || mirror.Annotations[staticpods.AnnotationConfigSource] != "file" ||
		mirror.Spec.NodeName != "n1" || mirror.UID == "" || string(mirror.UID) == uid {
		t.Errorf("mirror pod: annotations %v nodeName %q uid %s (static %s)", mirror.Annotations, mirror.Spec.NodeName, mirror.UID, uid)
	}
	if len(mirror.OwnerReferences) != 1 || mirror.OwnerReferences[0].Kind != "Node" || mirror.OwnerReferences[0].Name != "n1" {
		t.Errorf("mirror ownerReferences = %+v", mirror.OwnerReferences)
	}

	// The mirror cannot be changed through the API.
	edit := mirror.DeepCopy()
	edit.Spec.Containers[0].Image = "postgres:17"
	err := e.c.Update(ctx(t), podsR, edit)
	if client.Reason(err) != "MethodNotAllowed" || !strings.Contains(err.Error(), "--pod-manifest-path") {
		t.Errorf("Update of the mirror pod: %v", err)
	}
	// Deleted through the API: the static pod keeps running and the mirror comes back.
	if err := e.c.Delete(ctx(t), podsR, "default", "db-n1", ""); err != nil {
		t.Fatal(err)
	}
	e.eventually("the mirror pod to be recreated", 0, func() bool {
		p := e.pod("db-n1")
		return p != nil && p.UID != mirror.UID && runningReady(p)
	})
	if _, ok := e.runningStatic("db-n1")[uid]; !ok {
		t.Errorf("the static pod stopped when its mirror was deleted")
	}

	// Edited: replaced within 1s, the mirror follows.
	writeManifest(t, dir, "db.yaml", "db", "postgres:17", "")
	var newUID string
	e.within("the edited pod to replace the old one", time.Second, func() bool {
		r := e.runningStatic("db-n1")
		if _, old := r[uid]; old || len(r) != 1 {
			return false
		}
		for u := range r {
			newUID = u
		}
		return r[newUID][0].Image == "postgres:17"
	})
	e.eventually("the mirror to follow the edit", 0, func() bool {
		p := e.pod("db-n1")
		return p != nil && p.Annotations[staticpods.AnnotationConfigMirror] == newUID && p.Spec.Containers[0].Image == "postgres:17"
	})

	// A bad file: logged, the other static pods unaffected.
	cacheBefore := e.runningStatic("cache-n1")
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: broken}\nspec:\n  containerz: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.within("the bad file to be logged", time.Second, func() bool {
		return strings.Contains(logs.String(), "static pod manifest is invalid") && strings.Contains(logs.String(), "broken.yaml")
	})
	if got := e.runningStatic("cache-n1"); fmt.Sprint(got) != fmt.Sprint(cacheBefore) {
		t.Errorf("cache pod changed after a bad file: %v -> %v", cacheBefore, got)
	}
	e.eventually("a node event about the bad file", 0, func() bool {
		evs, err := e.c.List(ctx(t), must("events"), "default", "")
		if err != nil {
			return false
		}
		for _, o := range evs {
			ev := o.(*corev1.Event)
			if ev.InvolvedObject.Kind == "Node" && ev.Reason == "InvalidStaticPodManifest" && strings.Contains(ev.Message, "containerz") {
				return true
			}
		}
		return false
	})

	// Deleted: stopped within 1s, the mirror goes.
	if err := os.Remove(filepath.Join(dir, "db.yaml")); err != nil {
		t.Fatal(err)
	}
	e.within("the removed pod to stop", time.Second, func() bool {
		cs, _ := e.rt.ListContainers(ctx(t), runtime.ContainerFilter{PodUID: newUID})
		return len(cs) == 0
	})
	e.eventually("the mirror pod to be deleted", 0, func() bool { return e.pod("db-n1") == nil })
	if len(e.runningStatic("cache-n1")) != 1 {
		t.Errorf("cache pod stopped")
	}
}

func TestStaticPodsWithoutAPI(t *testing.T) {
	e := newEnv(t)
	// An API that is not there: a server closed at once.
	gone := httptest.NewServer(nil)
	gone.Close()
	c, err := client.New(gone.URL)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	// The node's pod CIDR is known up front: the API cannot tell it.
	e.podCIDR = ""
	e.rt = runtimetest.New(runtimetest.Config{Clock: e.clk, PodCIDR: "10.42.0.0/24"})
	dir := t.TempDir()
	writeManifest(t, dir, "crash.yaml", "crash", "busybox:1", `    env:
    - {name: BOSUN_FAKE_EXIT_AFTER, value: 1s}
    - {name: BOSUN_FAKE_EXIT_CODE, value: "1"}
`)
	writeManifest(t, dir, "db.yaml", "db", "postgres:16", "")
	stop := e.startWith(func(c *nodeagent.Config) { c.PodManifestPath = dir })
	e.within("the static pod to run without the API", 5*time.Second, func() bool { return len(e.runningStatic("db-n1")) == 1 })
	attempts := func() uint32 {
		cs, _ := e.rt.ListContainers(ctx(t), runtime.ContainerFilter{Labels: map[string]string{runtime.LabelPodName: "crash-n1"}})
		var max uint32
		for _, c := range cs {
			max = maxU(max, c.Metadata.Attempt)
		}
		return max
	}
	e.eventually("the crashing static pod to be restarted (with back-off)", time.Second, func() bool { return attempts() >= 3 })
	var dbUID string
	for u := range e.runningStatic("db-n1") {
		dbUID = u
	}
	stop()

	// The agent restarts, the API still down: it adopts the running pod.
	before, _ := e.rt.ListContainers(ctx(t), runtime.ContainerFilter{PodUID: dbUID})
	lists := e.rt.Calls()["ListPodSandboxes"]
	e.startWith(func(c *nodeagent.Config) { c.PodManifestPath = dir })
	e.within("a few relists and a sync of the running pod", 2*time.Second, func() bool {
		return e.rt.Calls()["ListPodSandboxes"] > lists+5 && nodeagent.PodSyncs(e.agent, dbUID) >= 1
	})
	after, _ := e.rt.ListContainers(ctx(t), runtime.ContainerFilter{PodUID: dbUID})
	if len(after) != 1 || len(before) != 1 || after[0].ID != before[0].ID || after[0].State != runtime.ContainerRunning {
		t.Errorf("static pod container across an agent restart: %v -> %v", before, after)
	}
}

func maxU(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}
