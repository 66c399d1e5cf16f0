package fault

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// TestCorruptObjects points a commit of the local repository the server
// syncs at a damaged Git object (a garbled or truncated blob, a garbled
// tree), then moves the branch to it. The sync of that commit must fail
// with an error naming the commit, the last good commit's objects must stay
// live, and the server must keep running; once the object is repaired the
// commit must be applied.
func TestCorruptObjects(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	r := newRepo(t, "marker.yaml", configMapCommit("v0"))
	s := startServer(t, r.dir)
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied", 60*time.Second)

	tests := []struct {
		name   string
		object func(r *repo, tree string) string // which object of the new commit to damage
		damage func(b []byte) []byte
	}{
		{"garbled blob", blobOf, garble},
		{"truncated blob", blobOf, func(b []byte) []byte { return b[:len(b)/2] }},
		{"garbled tree", func(_ *repo, tree string) string { return tree }, garble},
	}
	good := "v0"
	failures := 0
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version := fmt.Sprintf("v%d", i+1)
			sha, tree := r.commitWithoutRef(version)
			path := filepath.Join(r.dir, ".git", "objects", tt.object(r, tree)[:2], tt.object(r, tree)[2:])
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read the loose object: %v", err)
			}
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(orig), 0o644); err != nil {
				t.Fatal(err)
			}
			r.git("update-ref", "refs/heads/main", sha)

			var st syncStatus
			if !pollFor(30*time.Second, func() bool {
				st = s.status()
				return st.LastAttempt != nil && st.LastAttempt.Commit.SHA == sha && (st.LastAttempt.Result == "failed" || st.LastAttempt.Result == "rejected")
			}) {
				t.Fatalf("the sync of the damaged commit %.8s neither failed nor was rejected in 30s; last attempt %+v", sha, st.LastAttempt)
			}
			st = s.status()
			t.Logf("%s: last attempt %+v", tt.name, st.LastAttempt)
			if !strings.Contains(st.LastAttempt.Message, sha[:8]) {
				t.Errorf("the failed attempt does not name the damaged commit %.8s: %+v", sha, st.LastAttempt)
			}
			if !s.alive() {
				t.Fatalf("the server exited on a damaged object")
			}
			var cm struct {
				Data map[string]string `json:"data"`
			}
			if code := s.getJSON("/api/v1/namespaces/default/configmaps/marker", &cm); code != http.StatusOK || cm.Data["version"] != good {
				t.Errorf("the last good commit's ConfigMap: HTTP %d, version %q; want 200, %s", code, cm.Data["version"], good)
			}
			failures++

			// Repair the object: the retried sync applies the commit.
			if err := os.WriteFile(path, orig, 0o444); err != nil {
				t.Fatal(err)
			}
			s.waitAttempt(sha, "applied", 60*time.Second)
			good = version
		})
	}
	t.Logf("RESULT corrupt-objects faults=%d failed-cleanly=%d recovered-after-repair=%d", len(tests), failures, failures)
}

// commitWithoutRef commits marker.yaml holding version without moving the
// branch, and returns the commit and its tree.
func (r *repo) commitWithoutRef(version string) (sha, tree string) {
	r.t.Helper()
	r.write("marker.yaml", configMapCommit(version))
	r.git("add", "-A")
	tree = r.git("write-tree")
	sha = r.git("commit-tree", tree, "-p", "HEAD", "-m", version)
	return sha, tree
}

// blobOf returns the blob of marker.yaml in the index (the new commit's).
func blobOf(r *repo, _ string) string { return r.git("rev-parse", ":marker.yaml") }

// garble flips the bytes of the second half of a zlib stream.
func garble(b []byte) []byte {
	out := bytes.Clone(b)
	for i := len(out) / 2; i < len(out); i++ {
		out[i] ^= 0x5a
	}
	return out
}
