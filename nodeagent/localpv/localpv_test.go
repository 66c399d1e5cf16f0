package localpv_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/nodeagent/localpv"
)

// lister is a fake localpv.Lister that counts its calls.
type lister struct {
	mu    sync.Mutex
	pvs   []*corev1.PersistentVolume
	err   error
	calls int
}

func (l *lister) PersistentVolumes(context.Context) ([]*corev1.PersistentVolume, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	return l.pvs, l.err
}

func (l *lister) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

func pv(name, localPath string) *corev1.PersistentVolume {
	p := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if localPath != "" {
		p.Spec.Local = &corev1.LocalVolumeSource{Path: localPath}
	}
	return p
}

// volumeDir makes dir/<name> for each name (with a file inside) and dir/file.
func volumeDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "volumes")
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n, "data"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCollect(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pvs      func(dir string) []*corev1.PersistentVolume
		listErr  error
		inUse    []string
		inUseErr error
		removed  []string
		wantErr  bool
	}{
		{
			name: "directories without a PV and without a pod go",
			pvs: func(dir string) []*corev1.PersistentVolume {
				return []*corev1.PersistentVolume{pv("pvc-a", filepath.Join(dir, "pvc-a")), pv("other", filepath.Join(dir, "pvc-b")), pv("pvc-x", "")}
			},
			inUse:   []string{"pvc-c"},
			removed: []string{"pvc-d", "pvc-e"},
		},
		{name: "no PV at all: only the used one stays", pvs: func(string) []*corev1.PersistentVolume { return nil },
			inUse: []string{"pvc-a"}, removed: []string{"pvc-b", "pvc-c", "pvc-d", "pvc-e"}},
		{name: "a failed list removes nothing", listErr: errors.New("unreachable"), wantErr: true},
		{name: "unknown use removes nothing", inUseErr: errors.New("unreadable"), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := volumeDir(t, "pvc-a", "pvc-b", "pvc-c", "pvc-d", "pvc-e")
			l := &lister{err: tc.listErr}
			if tc.pvs != nil {
				l.pvs = tc.pvs(dir)
			}
			var logs bytes.Buffer
			c := localpv.New(localpv.Config{Dir: dir, Volumes: l, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				InUse: func() (map[string]bool, error) {
					m := map[string]bool{}
					for _, n := range tc.inUse {
						m[filepath.Join(dir, n)] = true
					}
					return m, tc.inUseErr
				}})
			removed, err := c.Collect(context.Background())
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error: %v", err, tc.wantErr)
			}
			var want []string
			for _, n := range tc.removed {
				want = append(want, filepath.Join(dir, n))
			}
			if !slices.Equal(removed, want) {
				t.Errorf("removed %v, want %v", removed, want)
			}
			for _, n := range []string{"pvc-a", "pvc-b", "pvc-c", "pvc-d", "pvc-e", "file"} {
				_, err := os.Stat(filepath.Join(dir, n))
				if gone := os.IsNotExist(err); gone != slices.Contains(tc.removed, n) {
					t.Errorf("%s gone = %v (%v)", n, gone, err)
				}
			}
			if lines := strings.Count(logs.String(), "removed the directory of a deleted persistent volume"); lines != len(tc.removed) {
				t.Errorf("%d removal log lines, want %d:\n%s", lines, len(tc.removed), logs.String())
			}
		})
	}
	// A node that never had a volume directory has nothing to do.
	c := localpv.New(localpv.Config{Dir: filepath.Join(t.TempDir(), "none"), Volumes: &lister{},
		InUse: func() (map[string]bool, error) { return nil, nil }})
	if removed, err := c.Collect(context.Background()); err != nil || len(removed) != 0 {
		t.Errorf("Collect without a directory = %v, %v", removed, err)
	}
}

// watcher is a fake localpv.Watcher: each send on del is one deletion.
type watcher struct{ del chan struct{} }

func (w watcher) WatchDeletions(ctx context.Context, deleted func()) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.del:
			deleted()
		}
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunPassesOnTickAndDeletion(t *testing.T) {
	dir := volumeDir(t, "pvc-a")
	l := &lister{pvs: []*corev1.PersistentVolume{pv("pvc-a", "")}}
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	w := watcher{del: make(chan struct{})}
	c := localpv.New(localpv.Config{Dir: dir, Volumes: l, Deletions: w, Clock: clk,
		InUse: func() (map[string]bool, error) { return nil, nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	waitFor(t, "the first pass", func() bool { return l.count() == 1 })
	// The PV goes: the deletion triggers a pass before any tick.
	l.mu.Lock()
	l.pvs = nil
	l.mu.Unlock()
	w.del <- struct{}{}
	waitFor(t, "a pass after the deletion", func() bool { return l.count() == 2 })
	waitFor(t, "the directory to go", func() bool { _, err := os.Stat(filepath.Join(dir, "pvc-a")); return os.IsNotExist(err) })
	// And the ticker makes passes every Interval.
	waitFor(t, "the ticker", clk.HasWaiters)
	clk.Step(localpv.DefaultInterval)
	waitFor(t, "a pass on the tick", func() bool { return l.count() == 3 })
}
