package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/metrics"
	"github.com/bosun-dev/bosun/metrics/metricstest"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/apply"
	"github.com/bosun-dev/bosun/sync/gitsource"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// gitRepo is a real local repository the tests commit to.
type gitRepo struct {
	t    testing.TB
	dir  string
	repo *git.Repository
	when time.Time
}

func newGitRepo(t testing.TB) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return &gitRepo{t: t, dir: dir, repo: r, when: time.Unix(1700000000, 0)}
}

// commit writes files (content "" removes the file) and commits them.
func (g *gitRepo) commit(msg string, files map[string]string) string {
	g.t.Helper()
	wt, err := g.repo.Worktree()
	if err != nil {
		g.t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(g.dir, name)
		if content == "" {
			if _, err := wt.Remove(name); err != nil {
				g.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
	// One Add of everything: go-git computes the worktree status per Add.
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		g.t.Fatal(err)
	}
	g.when = g.when.Add(time.Minute)
	h, err := wt.Commit(msg, &git.CommitOptions{
		Author:            &object.Signature{Name: "Tester", Email: "t@example.com", When: g.when},
		AllowEmptyCommits: true,
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return h.String()
}

func deployment(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  replicas: %d
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      containers:
      - name: app
        image: nginx:1.27
`, name, replicas, name, name)
}

func newSyncer(t testing.TB, src syncer.Source, s *store.Store, allowEmpty bool) *syncer.Syncer {
	return syncer.New(syncer.Config{Source: src, Store: s, Repo: "test", AllowEmpty: allowEmpty, Path: "deploy",
		Recorder: eventstest.Recorder(t, s, "bosun-sync")})
}

func localSource(t testing.TB, dir string) *gitsource.Source {
	t.Helper()
	src, err := gitsource.New(gitsource.Config{URL: dir})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func mustSync(t *testing.T, sy *syncer.Syncer, wantSHA, wantResult string) state.Attempt {
	t.Helper()
	att, err := sy.SyncOnce(t.Context())
	if err != nil {
		t.Fatalf("SyncOnce: %v", err)
	}
	if att.Commit.SHA != wantSHA || att.Result != wantResult {
		t.Fatalf("SyncOnce: commit %.8s %s (%s), want %.8s %s", att.Commit.SHA, att.Result, att.Message, wantSHA, wantResult)
	}
	return att
}

func replicas(t *testing.T, s *store.Store, name string) int32 {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := s.Get(t.Context(), "default", name, d); err != nil {
		t.Fatalf("get deployment %s: %v", name, err)
	}
	return *d.Spec.Replicas
}

func TestSyncAppliesAndRejectsWholeCommits(t *testing.T) {
	s := storetest.Start(t)
	g := newGitRepo(t)
	sy := newSyncer(t, localSource(t, g.dir), s, false)
	if err := sy.Ready(t.Context()); err == nil {
		t.Error("Ready before the first sync = nil, want an error")
	}

	c1 := g.commit("two apps", map[string]string{
		"deploy/a.yaml":      deployment("a", 1),
		"deploy/b.yaml":      deployment("b", 1),
		"README.md":          "not a manifest",
		"other/ignored.yaml": "this: is outside --path",
	})
	att := mustSync(t, sy, c1, state.ResultApplied)
	if att.Created != 2 {
		t.Errorf("created %d, want 2", att.Created)
	}
	if err := sy.Ready(t.Context()); err != nil {
		t.Errorf("Ready after the first sync: %v", err)
	}

	// Nothing new: no attempt, no history entry.
	if att, err := sy.SyncOnce(t.Context()); err != nil || att.Commit.SHA != "" {
		t.Errorf("SyncOnce with nothing new = %+v, %v; want a zero attempt", att, err)
	}

	// A valid change to a and an invalid b: neither applies.
	c2 := g.commit("scale a, break b", map[string]string{
		"deploy/a.yaml": deployment("a", 3),
		"deploy/b.yaml": strings.Replace(deployment("b", 1), "replicas: 1", "replicas: -1\n  replcas: 2", 1),
	})
	att = mustSync(t, sy, c2, state.ResultRejected)
	var msgs []string
	for _, p := range att.Problems.Errors() {
		msgs = append(msgs, p.String())
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"deploy/b.yaml:6", "spec.replicas", "deploy/b.yaml:7", "replcas"} {
		if !strings.Contains(joined, want) {
			t.Errorf("rejection does not mention %q:\n%s", want, joined)
		}
	}
	if got := replicas(t, s, "a"); got != 1 {
		t.Errorf("replicas of a after a rejected commit = %d, want 1", got)
	}
	st, err := records.ReadStatus(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.Synced == nil || st.Synced.Commit.SHA != c1 || st.LastAttempt.Commit.SHA != c2 || st.LastAttempt.Result != state.ResultRejected {
		t.Errorf("status after rejection: synced %+v last %+v", st.Synced, st.LastAttempt)
	}
	if !strings.Contains(st.LastAttempt.Message, c1[:8]) {
		t.Errorf("rejection message %q does not name the commit that keeps running (%.8s)", st.LastAttempt.Message, c1)
	}
	// Events on the objects: a and b were created from c1; b, whose file
	// is broken, says why c2 is not applied; a, whose file is fine, does not.
	testutil.EventuallyNoDiff(t, 10*time.Second, "the Events of c1 and c2", func() string {
		for _, name := range []string{"a", "b"} {
			evs := eventstest.Find(t, s, "default", name, apply.ReasonSynced)
			want := fmt.Sprintf("Created from commit %.8s \"two apps\" (deploy/%s.yaml:", c1, name)
			if len(evs) != 1 || !strings.HasPrefix(evs[0].Message, want) {
				return fmt.Sprintf("Synced Events of %s: %v, want one starting %q", name, evs, want)
			}
		}
		rej := eventstest.Find(t, s, "default", "b", apply.ReasonRejected)
		if len(rej) != 2 || !strings.Contains(rej[0].Message+rej[1].Message, "deploy/b.yaml:6") || rej[0].Type != "Warning" {
			return fmt.Sprintf("Rejected Events of b: %v, want two naming deploy/b.yaml:6 and :7", rej)
		}
		if n := len(eventstest.Find(t, s, "default", "a", apply.ReasonRejected)); n != 0 {
			return fmt.Sprintf("a got %d Rejected Events", n)
		}
		return ""
	})

	// Fix b: both changes apply together.
	c3 := g.commit("fix b", map[string]string{"deploy/b.yaml": deployment("b", 2)})
	mustSync(t, sy, c3, state.ResultApplied)
	if a, b := replicas(t, s, "a"), replicas(t, s, "b"); a != 3 || b != 2 {
		t.Errorf("replicas after the fix: a=%d b=%d, want 3 and 2", a, b)
	}

	// Removing every manifest is refused without AllowEmpty.
	c4 := g.commit("remove all", map[string]string{"deploy/a.yaml": "", "deploy/b.yaml": ""})
	att = mustSync(t, sy, c4, state.ResultRejected)
	if !strings.Contains(att.Message, "--allow-empty") {
		t.Errorf("empty-commit rejection %q does not mention --allow-empty", att.Message)
	}
	replicas(t, s, "a") // still there

	h, err := records.ReadHistory(t.Context(), s, 0)
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	for _, a := range h {
		results = append(results, a.Result)
	}
	if want := "rejected applied rejected applied"; strings.Join(results, " ") != want {
		t.Errorf("history results newest first = %v, want %s", results, want)
	}
}

func TestSyncAllowEmptyPrunes(t *testing.T) {
	s := storetest.Start(t)
	g := newGitRepo(t)
	sy := newSyncer(t, localSource(t, g.dir), s, true)
	mustSync(t, sy, g.commit("one", map[string]string{"deploy/a.yaml": deployment("a", 1)}), state.ResultApplied)
	att := mustSync(t, sy, g.commit("none", map[string]string{"deploy/a.yaml": ""}), state.ResultApplied)
	if att.Pruned != 1 {
		t.Errorf("pruned %d, want 1", att.Pruned)
	}
	if err := s.Get(t.Context(), "default", "a", &appsv1.Deployment{}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("deployment after an empty commit with AllowEmpty: %v, want not found", err)
	}
}

// brokenSource fails like an unreachable remote.
type brokenSource struct{ err error }

func (b brokenSource) Head(context.Context) (string, error) { return "", b.err }
func (b brokenSource) Fetch(context.Context) (gitsource.Commit, error) {
	return gitsource.Commit{}, b.err
}

func TestSyncRecordsUnreachableGit(t *testing.T) {
	s := storetest.Start(t)
	sy := newSyncer(t, brokenSource{err: fmt.Errorf("dial tcp: connection refused: %w", gitsource.ErrUnreachable)}, s, false)
	for range 3 {
		if _, err := sy.SyncOnce(t.Context()); !errors.Is(err, gitsource.ErrUnreachable) {
			t.Fatalf("SyncOnce with an unreachable source: %v, want ErrUnreachable", err)
		}
	}
	st, err := records.ReadStatus(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastAttempt == nil || st.LastAttempt.Result != state.ResultFailed || !strings.Contains(st.LastAttempt.Message, "connection refused") {
		t.Errorf("status after failures: %+v", st.LastAttempt)
	}
	h, err := records.ReadHistory(t.Context(), s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 {
		t.Errorf("three identical failures made %d history entries, want 1", len(h))
	}
	if err := sy.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Ready while Git is unreachable = %v, want the reason", err)
	}
}

// Run syncs a new commit of a watched local repository without waiting
// for the poll interval.
func TestRunSyncsOnTrigger(t *testing.T) {
	s := storetest.Start(t)
	g := newGitRepo(t)
	src := localSource(t, g.dir)
	g.commit("first", map[string]string{"deploy/a.yaml": deployment("a", 1)})
	sy := syncer.New(syncer.Config{Source: src, Store: s, Path: "deploy", Interval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sy.Run(ctx) }()
	go func() { _ = src.Watch(ctx, sy.Trigger) }()

	testutil.Eventually(t, 10*time.Second, "the first commit", func() (bool, string) {
		if err := sy.Ready(t.Context()); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	g.commit("scale", map[string]string{"deploy/a.yaml": deployment("a", 4)})
	testutil.Eventually(t, 10*time.Second, "the second commit to apply", func() (bool, string) {
		d := &appsv1.Deployment{}
		if err := s.Get(t.Context(), "default", "a", d); err != nil {
			return false, err.Error()
		}
		return *d.Spec.Replicas == 4, fmt.Sprintf("replicas = %d", *d.Spec.Replicas)
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestSyncMetrics(t *testing.T) {
	s := storetest.Start(t)
	g := newGitRepo(t)
	reg := metrics.NewRegistry()
	sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Repo: "test", Path: "deploy", Metrics: reg})
	mustSync(t, sy, g.commit("two", map[string]string{"deploy/a.yaml": deployment("a", 1), "deploy/b.yaml": deployment("b", 1)}), state.ResultApplied)
	mustSync(t, sy, g.commit("broken", map[string]string{"deploy/a.yaml": "kind: Nope"}), state.ResultRejected)
	if att, err := sy.SyncOnce(t.Context()); err != nil || att.Result != "" {
		t.Fatalf("a look at an unchanged branch: %+v, %v", att, err)
	}
	fams := metricstest.Families(t, reg)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"bosun_sync_total", map[string]string{"result": "applied"}, 1},
		{"bosun_sync_total", map[string]string{"result": "rejected"}, 1},
		{"bosun_sync_duration_seconds", nil, 2}, // unchanged looks are not attempts
		{"bosun_sync_objects_total", map[string]string{"op": "created"}, 2},
	} {
		if got, _ := metricstest.Value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got, _ := metricstest.Value(fams, "bosun_sync_last_applied_timestamp_seconds", nil); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("bosun_sync_last_applied_timestamp_seconds = %v, want about now", got)
	}
}
