package gitsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bosun-dev/bosun/internal/gittest"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// watcher runs Watch on src in the background and counts notifications.
type watcher struct {
	calls   atomic.Int64
	running atomic.Int64 // notify calls in progress, to catch concurrent calls
	overlap atomic.Bool
	done    chan error
	cancel  context.CancelFunc
	stopped bool
}

func startWatch(t *testing.T, src *Source, quiet time.Duration) *watcher {
	t.Helper()
	src.quiet = quiet
	ready := make(chan struct{})
	src.watchReady = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{done: make(chan error, 1), cancel: cancel}
	go func() {
		w.done <- src.Watch(ctx, func() {
			if w.running.Add(1) > 1 {
				w.overlap.Store(true)
			}
			w.calls.Add(1)
			w.running.Add(-1)
		})
	}()
	select {
	case <-ready:
	case err := <-w.done:
		t.Fatalf("Watch returned before watching: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not start")
	}
	t.Cleanup(func() { w.stop(t) })
	// Watch looks once as soon as it watches (TestWatchLooksOnceAtStart);
	// the tests count what comes after.
	w.waitCall(t, 0, "the look at start")
	w.calls.Add(-1)
	return w
}

// waitCall waits until notify has been called more than n times.
func (w *watcher) waitCall(t *testing.T, n int64, what string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, what+": a notification", func() (bool, string) {
		c := w.calls.Load()
		return c > n, fmt.Sprintf("%d calls", c)
	})
}

// stop ends Watch and checks it returned nil; calling it twice is fine.
func (w *watcher) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	if w.stopped {
		return
	}
	w.stopped = true
	select {
	case err := <-w.done:
		if err != nil {
			t.Errorf("Watch returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Watch did not return after its context ended")
	}
	if w.overlap.Load() {
		t.Error("notify was called concurrently")
	}
}

// TestWatchGitCLI changes a work tree's refs with the git command line and
// expects a notification (and a Fetch that sees the change) for each step.
func TestWatchGitCLI(t *testing.T) {
	type step struct {
		name string
		args [][]string
		// wantHead names the revision Fetch must return afterwards ("" = any;
		// "-" = Fetch must fail with ErrNoBranch).
		wantHead string
	}
	commit := func(msg string) []string { return []string{"commit", "-q", "--allow-empty", "-m", msg} }
	tests := []struct {
		name   string
		setup  [][]string
		branch string
		steps  []step
	}{
		{
			name:  "commit, amend, reset",
			setup: [][]string{commit("one")}, branch: "main",
			steps: []step{
				{name: "commit", args: [][]string{commit("two")}, wantHead: "main"},
				{name: "amend", args: [][]string{{"commit", "-q", "--amend", "--allow-empty", "-m", "two, amended"}}, wantHead: "main"},
				{name: "reset --hard", args: [][]string{{"reset", "-q", "--hard", "HEAD~1"}}, wantHead: "main"},
			},
		},
		{
			name:  "packed refs",
			setup: [][]string{commit("one"), {"branch", "other"}, {"branch", "third"}}, branch: "main",
			steps: []step{
				{name: "gc packs refs", args: [][]string{{"gc", "-q"}}, wantHead: "main"},
				{name: "delete packed branch rewrites packed-refs", args: [][]string{{"branch", "-q", "-D", "other"}}, wantHead: "main"},
				{name: "delete another packed branch", args: [][]string{{"branch", "-q", "-D", "third"}}, wantHead: "main"},
				{name: "commit after gc", args: [][]string{commit("two")}, wantHead: "main"},
			},
		},
		{
			name:  "new ref subdirectory",
			setup: [][]string{commit("one")}, branch: "feature/x",
			steps: []step{
				{name: "create feature/x", args: [][]string{{"checkout", "-q", "-b", "feature/x"}}, wantHead: "feature/x"},
				{name: "commit on feature/x", args: [][]string{commit("feature work")}, wantHead: "feature/x"},
				{name: "nested branch team/a/b", args: [][]string{{"branch", "team/a/b"}}},
				{name: "delete feature/x", args: [][]string{{"checkout", "-q", "main"}, {"branch", "-q", "-D", "feature/x"}}, wantHead: "-"},
			},
		},
		{
			name:  "HEAD switches branch",
			setup: [][]string{commit("one"), {"checkout", "-q", "-b", "dev"}, commit("dev work"), {"checkout", "-q", "main"}}, branch: "",
			steps: []step{
				{name: "checkout dev", args: [][]string{{"checkout", "-q", "dev"}}, wantHead: "dev"},
				{name: "checkout main", args: [][]string{{"checkout", "-q", "main"}}, wantHead: "main"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			gittest.Git(t, dir, "init", "-q", "-b", "main")
			for _, a := range tt.setup {
				gittest.Git(t, dir, a...)
			}
			src, err := New(Config{URL: dir, Branch: tt.branch, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			w := startWatch(t, src, 20*time.Millisecond)
			for _, st := range tt.steps {
				before := w.calls.Load()
				for _, a := range st.args {
					gittest.Git(t, dir, a...)
				}
				w.waitCall(t, before, st.name)
				c, err := src.Fetch(context.Background())
				switch st.wantHead {
				case "":
				case "-":
					if !errors.Is(err, ErrNoBranch) {
						t.Fatalf("%s: Fetch error = %v, want ErrNoBranch", st.name, err)
					}
				default:
					want := gittest.Git(t, dir, "rev-parse", st.wantHead)
					if err != nil || c.SHA != want {
						t.Fatalf("%s: Fetch = %s, %v; want %s", st.name, c.SHA, err, want)
					}
				}
			}
		})
	}
}

// TestWatchBareRepository commits into a bare repository with go-git, as a push would.
func TestWatchBareRepository(t *testing.T) {
	dir, repo := initRepo(t, true)
	commitOn(t, repo, "main", "one", testTime(0), map[string]fentry{"a": file("1")})
	src := mainSource(t, dir)
	w := startWatch(t, src, 20*time.Millisecond)
	for i := 1; i <= 3; i++ {
		before := w.calls.Load()
		want := commitOn(t, repo, "main", "next", testTime(i), map[string]fentry{"a": file("next")})
		w.waitCall(t, before, "commit")
		if c, err := src.Fetch(context.Background()); err != nil || c.SHA != want.String() {
			t.Fatalf("Fetch = %s, %v; want %s", c.SHA, err, want)
		}
	}
	before := w.calls.Load()
	commitOn(t, repo, "feature/deep/x", "branch", testTime(9), map[string]fentry{"a": file("x")})
	w.waitCall(t, before, "new nested branch")
}

// TestWatchDebounce checks that a burst of ref updates leads to few calls.
// The burst's commits follow each other within milliseconds; the quiet time
// is long so that a busy machine does not split the burst.
func TestWatchDebounce(t *testing.T) {
	dir, repo := initRepo(t, false)
	commitOn(t, repo, "main", "one", testTime(0), map[string]fentry{"a": file("1")})
	src := mainSource(t, dir)
	src.maxWait = time.Minute
	w := startWatch(t, src, 500*time.Millisecond)
	var last string
	for i := 1; i <= 10; i++ {
		last = commitOn(t, repo, "main", "burst", testTime(i), map[string]fentry{"a": file("burst")}).String()
	}
	w.waitCall(t, 0, "burst")
	if c, err := src.Fetch(context.Background()); err != nil || c.SHA != last {
		t.Fatalf("Fetch = %s, %v; want %s", c.SHA, err, last)
	}
	w.stop(t)
	if n := w.calls.Load(); n > 3 {
		t.Errorf("10 ref updates in a burst gave %d notifications, want at most 3", n)
	}
}

// TestCoalescer runs Watch's coalescing in virtual time: a call once events
// have been quiet for a while, at the latest maxWait after a burst began.
func TestCoalescer(t *testing.T) {
	const ms = time.Millisecond
	every := func(from, to, step time.Duration) []time.Duration {
		var out []time.Duration
		for d := from; d <= to; d += step {
			out = append(out, d)
		}
		return out
	}
	tests := []struct {
		name   string
		events []time.Duration // since the start, ascending
		want   []time.Duration // when calls happen
	}{
		{name: "one event", events: []time.Duration{0}, want: []time.Duration{100 * ms}},
		{name: "each event restarts the quiet time", events: []time.Duration{0, 50 * ms, 120 * ms}, want: []time.Duration{220 * ms}},
		{name: "two bursts", events: []time.Duration{0, 10 * ms, 500 * ms, 530 * ms}, want: []time.Duration{110 * ms, 630 * ms}},
		{name: "an endless burst is cut at maxWait", events: every(0, 1500*ms, 30*ms),
			// 0..990 ms: cut at 1000 ms; 1020..1500 ms: quiet from 1600 ms.
			want: []time.Duration{1000 * ms, 1600 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCoalescer(100*ms, time.Second)
				defer c.stop()
				start := time.Now()
				events := make(chan struct{})
				go func() {
					defer close(events)
					for _, at := range tt.events {
						time.Sleep(time.Until(start.Add(at)))
						events <- struct{}{}
					}
				}()
				var got []time.Duration
				for open := true; open; {
					select {
					case _, open = <-events:
						if open {
							c.event()
						}
					case <-c.C():
						c.fired()
						got = append(got, time.Since(start))
					}
				}
				// Quiet from here: the last burst ends.
				select {
				case <-c.C():
					c.fired()
					got = append(got, time.Since(start))
				case <-time.After(time.Hour):
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("calls at %v, want %v", got, tt.want)
				}
			})
		})
	}
}

func TestWatchErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	notRepo := t.TempDir()
	if err := os.WriteFile(filepath.Join(notRepo, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{missing, notRepo} {
		src, err := New(Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Watch(context.Background(), func() {}); !errors.Is(err, ErrUnreachable) {
			t.Errorf("Watch(%s) = %v, want ErrUnreachable", url, err)
		}
	}
}

// TestWatchLooksOnceAtStart checks that Watch notifies once as soon as its
// watches are in place, so that a commit made between the caller's last
// fetch and the start of the watch is not left for the next poll.
func TestWatchLooksOnceAtStart(t *testing.T) {
	dir, repo := initRepo(t, true)
	commitOn(t, repo, "main", "one", testTime(0), map[string]fentry{"a": file("1")})
	src := mainSource(t, dir)
	ready := make(chan struct{})
	src.watchReady = func() { close(ready) }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := make(chan struct{}, 10)
	go func() { _ = src.Watch(ctx, func() { calls <- struct{}{} }) }()
	<-ready
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not look once at start")
	}
}
