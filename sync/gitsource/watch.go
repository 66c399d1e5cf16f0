package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch blocks until ctx ends, calling notify whenever the local repository's
// branches may have moved. It watches directories, not files: the refs/heads
// tree (recursively; new subdirectories such as refs/heads/feature/ are added as
// they appear), and the git directory for HEAD and packed-refs, which git
// replaces by renaming a lock file. For a bare repository these are <repo>/refs/heads,
// <repo>/HEAD and <repo>/packed-refs.
//
// Events are coalesced: notify runs once the repository has been quiet for
// 10 ms after the last event of a burst (a commit or a fetch touches several
// files), or 1 s after the first event when events keep coming. It runs on
// Watch's goroutine, so it is never called concurrently; events that arrive
// while notify runs lead to one more call. notify should only signal (for
// example a non-blocking channel send) and let the caller Fetch: a call means
// "look again", not "the branch moved". Watch also calls notify once as soon
// as its watches are in place, so that a ref moved just before the watch
// began is not left for the next poll. Watch returns nil when ctx ends,
// ErrNotLocal for a remote source, and an error if the watches cannot be set up.
func (s *Source) Watch(ctx context.Context, notify func()) error {
	if !s.local {
		return fmt.Errorf("gitsource: watch %s: %w", s.cfg.URL, ErrNotLocal)
	}
	gitDir, commonDir, err := gitDirs(s.path)
	if err != nil {
		return fmt.Errorf("gitsource: watch %s: %w: %w", s.path, ErrUnreachable, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("gitsource: watch %s: %w", s.path, err)
	}
	defer w.Close()

	// The directories whose entries matter only by name.
	named := map[string]map[string]bool{
		gitDir: {"HEAD": true, "packed-refs": true},
	}
	if commonDir != gitDir {
		named[commonDir] = map[string]bool{"packed-refs": true}
	}
	for dir := range named {
		if err := w.Add(dir); err != nil {
			return fmt.Errorf("gitsource: watch %s: %w", dir, err)
		}
	}
	heads := filepath.Join(commonDir, "refs", "heads")
	if err := addTree(w, heads); err != nil {
		return fmt.Errorf("gitsource: watch %s: %w", heads, err)
	}
	s.log.Debug("watching local repository", "repo", s.path, "refs", heads)
	if s.watchReady != nil {
		s.watchReady()
	}
	// Look once now: a ref that moved after the caller's last fetch but
	// before the watches were in place sent no event, and would otherwise
	// wait for the next poll.
	notify()

	burst := newCoalescer(s.quiet, s.maxWait)
	defer burst.stop()
	schedule := burst.event
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("gitsource: watch %s: watcher closed", s.path)
			}
			dir, base := filepath.Dir(ev.Name), filepath.Base(ev.Name)
			if names, ok := named[dir]; ok {
				if names[base] {
					schedule()
				}
				continue
			}
			// Inside refs/heads: any change counts; new directories get watched.
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
					if err := addTree(w, ev.Name); err != nil {
						s.log.Warn("cannot watch new ref directory; changes below it may be noticed late", "dir", ev.Name, "err", err)
					}
				}
			}
			schedule()
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("gitsource: watch %s: watcher closed", s.path)
			}
			// A lost event (queue overflow) may have been a ref change: look again.
			s.log.Warn("file watch error; checking the repository anyway", "repo", s.path, "err", err)
			schedule()
		case <-burst.C():
			burst.fired()
			notify()
		}
	}
}

// Coalescing of Watch: how long the repository must be quiet after an event,
// and how long after the first event of a burst notify runs at the latest.
const (
	watchQuiet   = 10 * time.Millisecond
	watchMaxWait = time.Second
)

// coalescer turns a burst of events into one call, trailing-edge with a
// maximum wait: C fires once no event came for quiet, or maxWait after the
// first event of the burst if events keep coming. It is used by one
// goroutine, which calls event for every event and fired after every receive
// from C.
type coalescer struct {
	quiet, maxWait time.Duration
	timer          *time.Timer
	first          time.Time // the first event of the pending burst; zero when none
}

func newCoalescer(quiet, maxWait time.Duration) *coalescer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &coalescer{quiet: quiet, maxWait: maxWait, timer: t}
}

// event records an event now: the burst's timer restarts, but never beyond
// maxWait after its first event.
func (c *coalescer) event() {
	now := time.Now()
	if c.first.IsZero() {
		c.first = now
	}
	c.timer.Reset(max(min(c.quiet, c.first.Add(c.maxWait).Sub(now)), 0))
}

// C receives when a burst is over.
func (c *coalescer) C() <-chan time.Time { return c.timer.C }

// fired ends the burst whose end C just reported; the next event starts a new one.
func (c *coalescer) fired() { c.first = time.Time{} }

func (c *coalescer) stop() { c.timer.Stop() }

// addTree watches dir and every directory below it.
func addTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if err := w.Add(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}
