package syncer_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// control changes the sync's controls as the API does.
func control(t *testing.T, s *store.Store, now time.Time, change func(c *state.Control)) {
	t.Helper()
	if _, err := records.ChangeControl(t.Context(), s, now, func(c *state.Control) (string, error) {
		change(c)
		return "changed by the test", nil
	}); err != nil {
		t.Fatal(err)
	}
}

// mustWait syncs and expects sha to wait, with a message containing why.
func mustWait(t *testing.T, sy *syncer.Syncer, sha, why string) {
	t.Helper()
	att := mustSync(t, sy, sha, state.ResultWaiting)
	if !strings.Contains(att.Message, why) {
		t.Errorf("waiting message %q, want it to contain %q", att.Message, why)
	}
}

func revertMessage(subject, sha string) string {
	return "Revert \"" + subject + "\"\n\nThis reverts commit " + sha + ".\n"
}

// ticking returns a clock at start that moves a millisecond at each
// reading (history entries are keyed by time), and a way to jump it.
func ticking(start time.Time) (now func() time.Time, jump func(time.Duration)) {
	t := start
	return func() time.Time { t = t.Add(time.Millisecond); return t }, func(d time.Duration) { t = t.Add(d) }
}

func TestFreeze(t *testing.T) {
	start := time.Date(2026, 12, 24, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name          string
		blockRollback bool
	}{{"rollbacks pass", false}, {"rollbacks held too", true}} {
		t.Run(tc.name, func(t *testing.T) {
			clock, jump := ticking(start)
			s := storetest.Start(t)
			g := newGitRepo(t)
			sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Path: "deploy", Now: clock,
				FreezeBlocksRollback: tc.blockRollback})
			c1 := g.commit("one replica", map[string]string{"deploy/a.yaml": deployment("a", 1)})
			mustSync(t, sy, c1, state.ResultApplied)

			control(t, s, clock(), func(c *state.Control) {
				c.Frozen = &state.Hold{By: "alice", Reason: "holidays", Since: start, Until: start.Add(48 * time.Hour)}
			})
			// A revert of the synced commit, made on it: a rollback.
			rb := g.commit(revertMessage("one replica", c1), map[string]string{"deploy/a.yaml": deployment("a", 1) + "\n# reverted\n"})
			if tc.blockRollback {
				mustWait(t, sy, rb, "frozen until 2026-12-26T12:00:00Z by alice: holidays")
			} else {
				mustSync(t, sy, rb, state.ResultApplied)
			}
			c2 := g.commit("two", map[string]string{"deploy/a.yaml": deployment("a", 2)})
			mustWait(t, sy, c2, "frozen until 2026-12-26T12:00:00Z by alice: holidays")
			c3 := g.commit("three", map[string]string{"deploy/a.yaml": deployment("a", 3)})
			mustWait(t, sy, c3, "frozen")
			// A revert made on a waiting commit would apply it too: it waits.
			rb2 := g.commit(revertMessage("three", c3), map[string]string{"deploy/a.yaml": deployment("a", 2)})
			mustWait(t, sy, rb2, "frozen")
			if got := replicas(t, s, "a"); got != 1 {
				t.Fatalf("replicas during the freeze = %d, want 1", got)
			}
			// The freeze ends by itself: the newest commit is applied, once.
			c4 := g.commit("four", map[string]string{"deploy/a.yaml": deployment("a", 4)})
			mustWait(t, sy, c4, "frozen")
			jump(48 * time.Hour)
			mustSync(t, sy, c4, state.ResultApplied)
			if got := replicas(t, s, "a"); got != 4 {
				t.Errorf("replicas after the freeze = %d, want 4", got)
			}
			h, err := records.ReadHistory(t.Context(), s, 0)
			if err != nil {
				t.Fatal(err)
			}
			applied := 0
			for _, a := range h {
				if a.Result == state.ResultApplied {
					applied++
				}
			}
			want := 3 // c1, the rollback, c4
			if tc.blockRollback {
				want = 2
			}
			if applied != want {
				t.Errorf("%d commits applied, want %d (only the newest after the freeze)", applied, want)
			}
		})
	}
}

func TestSuspendAndManual(t *testing.T) {
	start := time.Date(2026, 12, 24, 12, 0, 0, 0, time.UTC)
	now, _ := ticking(start)
	s := storetest.Start(t)
	g := newGitRepo(t)
	sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Path: "deploy", Manual: true, Now: now})
	c1 := g.commit("one", map[string]string{"deploy/a.yaml": deployment("a", 1)})
	mustWait(t, sy, c1, "the sync policy is manual; apply it with bosun sync")
	control(t, s, now(), func(c *state.Control) { c.Approved = c1 })
	mustSync(t, sy, c1, state.ResultApplied)
	c2 := g.commit("two", map[string]string{"deploy/a.yaml": deployment("a", 2)})
	mustWait(t, sy, c2, "manual")

	// Suspended: even an approved commit waits; resume applies it.
	control(t, s, now(), func(c *state.Control) {
		c.Suspended = &state.Hold{By: "bob", Reason: "incident 42", Since: start}
		c.Approved = c2
	})
	mustWait(t, sy, c2, "syncing is suspended by bob since 2026-12-24T12:00:00Z: incident 42")
	control(t, s, now(), func(c *state.Control) { c.Suspended = nil })
	mustSync(t, sy, c2, state.ResultApplied)
	if got := replicas(t, s, "a"); got != 2 {
		t.Errorf("replicas = %d, want 2", got)
	}
	h, err := records.ReadHistory(t.Context(), s, 0)
	if err != nil {
		t.Fatal(err)
	}
	controls := 0
	for _, a := range h {
		if a.Result == state.ResultControl {
			controls++
		}
	}
	if controls != 3 {
		t.Errorf("%d control entries in the history, want 3", controls)
	}
}

func TestSyncWindows(t *testing.T) {
	// Friday 2026-12-25 17:00 UTC; the deny window opens at 18:00 for 63 h.
	clock, jump := ticking(time.Date(2026, 12, 25, 17, 0, 0, 0, time.UTC))
	s := storetest.Start(t)
	g := newGitRepo(t)
	sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Path: "deploy", Now: clock})
	window := `apiVersion: bosun.dev/v1alpha1
kind: SyncWindow
metadata:
  name: weekend
spec:
  kind: deny
  schedule: "0 18 * * 5"
  duration: 63h
`
	c1 := g.commit("one, and the weekend window", map[string]string{"deploy/a.yaml": deployment("a", 1), "deploy/window.yaml": window})
	mustSync(t, sy, c1, state.ResultApplied)
	jump(2 * time.Hour) // 19:00: open
	c2 := g.commit("two", map[string]string{"deploy/a.yaml": deployment("a", 2)})
	mustWait(t, sy, c2, "sync window weekend (deny \"0 18 * * 5\" for 63h, UTC) is open until 2026-12-28T09:00:00Z (deploy/window.yaml:1)")
	// Removing the window is a commit like any other: held by the window.
	c3 := g.commit("no more weekend freeze", map[string]string{"deploy/a.yaml": deployment("a", 3), "deploy/window.yaml": ""})
	mustWait(t, sy, c3, "sync window weekend")
	jump(62 * time.Hour) // Monday 09:00: closed
	mustSync(t, sy, c3, state.ResultApplied)
	if got := replicas(t, s, "a"); got != 3 {
		t.Errorf("replicas = %d, want 3", got)
	}
	st, err := records.ReadStatus(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Windows) != 0 {
		t.Errorf("windows after c3 removed them: %v", st.Windows)
	}

	// Allow windows: only while one is open.
	allow := strings.Replace(strings.Replace(window, "kind: deny", "kind: allow", 1), "duration: 63h", "duration: 1h", 1)
	c4 := g.commit("only on Friday evenings", map[string]string{"deploy/window.yaml": allow})
	mustSync(t, sy, c4, state.ResultApplied)
	c5 := g.commit("five", map[string]string{"deploy/a.yaml": deployment("a", 5)})
	mustWait(t, sy, c5, "no allow sync window is open (weekend (allow \"0 18 * * 5\" for 1h, UTC)); the next opens at 2027-01-01T18:00:00Z")
}

// rewrite moves the branch back to sha and commits files on it: a
// history where the commits after sha are gone, as after a force-push.
func (g *gitRepo) rewrite(sha, msg string, files map[string]string) string {
	g.t.Helper()
	wt, err := g.repo.Worktree()
	if err != nil {
		g.t.Fatal(err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: plumbing.NewHash(sha), Mode: git.HardReset}); err != nil {
		g.t.Fatal(err)
	}
	return g.commit(msg, files)
}

func TestHistoryRewrite(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			clock, _ := ticking(time.Date(2026, 12, 24, 12, 0, 0, 0, time.UTC))
			s := storetest.Start(t)
			g := newGitRepo(t)
			sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Path: "deploy", Now: clock, AllowHistoryRewrite: allow})
			c1 := g.commit("one", map[string]string{"deploy/a.yaml": deployment("a", 1)})
			mustSync(t, sy, c1, state.ResultApplied)
			c2 := g.commit("two", map[string]string{"deploy/a.yaml": deployment("a", 2)})
			mustSync(t, sy, c2, state.ResultApplied)
			// Force-push: c2 is gone, c3 builds on c1.
			c3 := g.rewrite(c1, "three, rewritten", map[string]string{"deploy/a.yaml": deployment("a", 3)})
			if allow {
				mustSync(t, sy, c3, state.ResultApplied)
				return
			}
			att := mustSync(t, sy, c3, state.ResultRejected)
			if want := "history rewritten: the synced commit " + c2[:8] + " is not an ancestor of the new head " + c3[:8]; !strings.Contains(att.Message, want) {
				t.Errorf("message %q, want it to contain %q", att.Message, want)
			}
			mustSync(t, sy, c3, state.ResultRejected) // looked at again, still refused
			if got := replicas(t, s, "a"); got != 2 {
				t.Errorf("replicas after a refused rewrite = %d, want 2", got)
			}
			control(t, s, clock(), func(c *state.Control) { c.AcceptedRewrite = c3 })
			mustSync(t, sy, c3, state.ResultApplied)
			// Later commits on the new history are ordinary.
			c4 := g.commit("four", map[string]string{"deploy/a.yaml": deployment("a", 4)})
			mustSync(t, sy, c4, state.ResultApplied)
			h, err := records.ReadHistory(t.Context(), s, 0)
			if err != nil {
				t.Fatal(err)
			}
			rejections, c2Kept := 0, false
			for _, a := range h {
				rejections += map[bool]int{true: 1}[a.Result == state.ResultRejected]
				c2Kept = c2Kept || (a.Commit.SHA == c2 && a.Result == state.ResultApplied)
			}
			if rejections != 1 || !c2Kept {
				t.Errorf("history: %d rejections (want 1), the vanished commit's entry kept: %v", rejections, c2Kept)
			}
		})
	}
}
