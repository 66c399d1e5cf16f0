package staticpods_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/staticpods"
)

const podYAML = `apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels: {app: db}
spec:
  containers:
  - name: db
    image: %s
`

func podFile(name, image string) string {
	return strings.Replace(strings.Replace(podYAML, "%s", name, 1), "%s", image, 1)
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	// As editors do: a temporary file renamed over the old one.
	tmp := filepath.Join(dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file, content string
		err                 string
		pods                []string
	}{
		{name: "pod", file: "db.yaml", content: podFile("db", "postgres:16"), pods: []string{"default/db-n1"}},
		{name: "json", file: "db.json", content: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j","namespace":"infra"},"spec":{"containers":[{"name":"c","image":"x:1"}]}}`,
			pods: []string{"infra/j-n1"}},
		{name: "not a pod", file: "svc.yaml", content: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", err: "is not a Pod"},
		{name: "unknown field", file: "typo.yaml", content: strings.Replace(podFile("t", "x:1"), "image:", "imagee:", 1), err: "imagee"},
		{name: "invalid pod", file: "empty.yaml", content: "apiVersion: v1\nkind: Pod\nmetadata: {name: e}\nspec: {containers: []}\n", err: "containers"},
		{name: "empty file", file: "nothing.yaml", content: "# nothing\n", err: "no pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			pods, err := staticpods.ReadFile(path, "n1")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.file) {
					t.Fatalf("err = %v, want one naming %s and containing %q", err, tc.file, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pods {
				got = append(got, p.Namespace+"/"+p.Name)
				if p.Spec.NodeName != "n1" || p.UID == "" || p.Annotations[staticpods.AnnotationConfigSource] != "file" ||
					p.Annotations[staticpods.AnnotationConfigHash] != string(p.UID) || !staticpods.IsStatic(p) {
					t.Errorf("pod %s: nodeName %q uid %q annotations %v", p.Name, p.Spec.NodeName, p.UID, p.Annotations)
				}
				if p.Spec.RestartPolicy != corev1.RestartPolicyAlways {
					t.Errorf("restartPolicy = %q: defaults not applied", p.Spec.RestartPolicy)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.pods, ",") {
				t.Errorf("pods = %v, want %v", got, tc.pods)
			}
		})
	}
}

func TestHashFollowsContentAndNode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db.yaml")
	uid := func(image, node string) string {
		if err := os.WriteFile(path, []byte(podFile("db", image)), 0o644); err != nil {
			t.Fatal(err)
		}
		pods, err := staticpods.ReadFile(path, node)
		if err != nil {
			t.Fatal(err)
		}
		return string(pods[0].UID)
	}
	a, again, b, c := uid("x:1", "n1"), uid("x:1", "n1"), uid("x:2", "n1"), uid("x:1", "n2")
	if a != again || a == b || a == c {
		t.Errorf("uids %s %s %s %s: want stable for the same content and node, different otherwise", a, again, b, c)
	}
	pods, _ := staticpods.ReadFile(path, "n1")
	m := staticpods.Mirror(pods[0], &corev1.Node{})
	if m.Annotations[staticpods.AnnotationConfigMirror] != string(pods[0].UID) || !staticpods.IsMirror(m) || m.UID != "" || m.Name != "db-n1" {
		t.Errorf("mirror = %+v", m.ObjectMeta)
	}
}

// recorder keeps the sets a Source hands out.
type recorder struct {
	mu   sync.Mutex
	sets [][]*corev1.Pod
}

func (r *recorder) set(pods []*corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, pods)
}

func (r *recorder) latest() (map[string]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	if len(r.sets) == 0 {
		return nil, 0
	}
	for _, p := range r.sets[len(r.sets)-1] {
		out[p.Name] = p.Spec.Containers[0].Image
	}
	return out, len(r.sets)
}

// scans counts the "scanned" debug records a Source logs: one per read of
// the directory, whether or not the set changed.
type scans struct {
	n *atomic.Int64
}

func (h scans) Enabled(context.Context, slog.Level) bool { return true }

func (h scans) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "scanned the static pod directory" {
		h.n.Add(1)
	}
	return nil
}

func (h scans) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h scans) WithGroup(string) slog.Handler      { return h }

// wait is how long a test waits for fsnotify and the file system: generous,
// as it is real I/O on a machine that may be busy.
const wait = 10 * time.Second

// start runs src on a fake clock and returns the recorder of its sets and a
// function that waits for cond while stepping the clock by step, so that
// the debounce (or the rescan) fires once the events have arrived.
func start(t *testing.T, src *staticpods.Source, clk *testingclock.FakeClock, step time.Duration) (*recorder, func(what string, cond func() bool)) {
	t.Helper()
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = src.Run(ctx, r.set) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, func(what string, cond func() bool) {
		t.Helper()
		testutil.EventuallyTrue(t, wait, what, func() bool {
			if cond() {
				return true
			}
			clk.Step(step)
			return false
		})
	}
}

func TestSourceWatches(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", podFile("a", "x:1"))
	write(t, dir, ".hidden.yaml", podFile("hidden", "x:1"))
	write(t, dir, "notes.txt", "not a manifest")
	var badMu sync.Mutex
	var bad []string
	var scanned atomic.Int64
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	src, err := staticpods.New(staticpods.Config{Dir: dir, NodeName: "n1", Clock: clk, Logger: slog.New(scans{&scanned}),
		OnError: func(file string, err error) {
			badMu.Lock()
			bad = append(bad, filepath.Base(file)+": "+err.Error())
			badMu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	r, eventually := start(t, src, clk, staticpods.DefaultDebounce)

	has := func(want map[string]string) func() bool {
		return func() bool {
			got, _ := r.latest()
			if len(got) != len(want) {
				return false
			}
			for k, v := range want {
				if got[k] != v {
					return false
				}
			}
			return true
		}
	}
	eventually("the first scan", has(map[string]string{"a-n1": "x:1"}))
	write(t, dir, "b.yml", podFile("b", "y:1"))
	eventually("a created file", has(map[string]string{"a-n1": "x:1", "b-n1": "y:1"}))
	write(t, dir, "a.yaml", podFile("a", "x:2"))
	eventually("an edited file", has(map[string]string{"a-n1": "x:2", "b-n1": "y:1"}))

	// A bad edit: reported once, the other pods and a's last good version stay.
	write(t, dir, "b.yml", "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containerz: []}\n")
	eventually("the bad file reported", func() bool {
		badMu.Lock()
		defer badMu.Unlock()
		return len(bad) == 1 && strings.Contains(bad[0], "b.yml") && strings.Contains(bad[0], "containerz")
	})
	if !has(map[string]string{"a-n1": "x:2", "b-n1": "y:1"})() {
		got, _ := r.latest()
		t.Errorf("after a bad edit: %v", got)
	}
	if err := os.Remove(filepath.Join(dir, "b.yml")); err != nil {
		t.Fatal(err)
	}
	eventually("a removed file", has(map[string]string{"a-n1": "x:2"}))
	// A duplicate name in another file is refused.
	write(t, dir, "z.yaml", podFile("a", "other:1"))
	eventually("the duplicate reported", func() bool {
		badMu.Lock()
		defer badMu.Unlock()
		return len(bad) == 2 && strings.Contains(bad[1], "already defined in a.yaml")
	})
	if !has(map[string]string{"a-n1": "x:2"})() {
		got, _ := r.latest()
		t.Errorf("after a duplicate: %v", got)
	}
	_, sets := r.latest()
	// Nothing changes: no new set. Two more scans after the change prove
	// the directory was read again with it (the first might have been under
	// way already); the fake clock makes the scans happen.
	write(t, dir, "notes.txt", "still not a manifest")
	after := scanned.Load()
	testutil.EventuallyTrue(t, wait, "two scans after an irrelevant change", func() bool {
		clk.Step(staticpods.DefaultRescan)
		return scanned.Load() >= after+2
	})
	if _, n := r.latest(); n != sets {
		t.Errorf("%d sets after an irrelevant change, want %d", n, sets)
	}
	badMu.Lock()
	defer badMu.Unlock()
	if len(bad) != 2 {
		t.Errorf("errors after an irrelevant change (each bad file is reported once): %q", bad)
	}
}

func TestSourceDirectoryAppearsLater(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "manifests")
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	src, err := staticpods.New(staticpods.Config{Dir: dir, NodeName: "n1", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	// Stepping by the rescan interval: only a rescan notices the directory.
	r, eventually := start(t, src, clk, staticpods.DefaultRescan)
	eventually("the first (empty) set", func() bool { _, n := r.latest(); return n == 1 })
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a.yaml", podFile("a", "x:1"))
	eventually("the pod of a directory created later", func() bool { got, _ := r.latest(); return got["a-n1"] == "x:1" })
	// Now watched: a removal is seen.
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually("the removal", func() bool { got, n := r.latest(); return n > 1 && len(got) == 0 })
}
