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
// Events are coalesced: notify runs about 10 ms after the first event of a burst,
// on Watch's goroutine, so it is never called concurrently; events that arrive
// while notify runs lead to one more call. notify should only signal (for
// example a non-blocking channel send) and let the caller Fetch: a call means
// "look again", not "the branch moved". Watch returns nil when ctx ends,
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

	var (
		timer   = time.NewTimer(time.Hour)
		pending bool
	)
	timer.Stop()
	defer timer.Stop()
	schedule := func() {
		if !pending {
			pending = true
			timer.Reset(s.debounce)
		}
	}
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
		case <-timer.C:
			pending = false
			notify()
		}
	}
}

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
