package gittest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bosun-dev/bosun/internal/gittest"
)

func TestRepository(t *testing.T) {
	dir := gittest.Init(t)
	first := gittest.Commit(t, dir, "first", map[string]string{"apps/web.yaml": "web\n", "README.md": "hi\n"})
	second := gittest.Commit(t, dir, "second", map[string]string{"README.md": ""})
	if first == second || len(second) != 40 {
		t.Fatalf("commits %q and %q", first, second)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); !os.IsNotExist(err) {
		t.Errorf("README.md not removed: %v", err)
	}
	bare := gittest.BareClone(t, dir)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"branch", []string{"rev-parse", "--abbrev-ref", "HEAD"}, "main"},
		{"head", []string{"rev-parse", "main"}, second},
		{"author and committer", []string{"log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", "main"}, "Jo User <jo@example.com>|Jo User <jo@example.com>|second"},
		{"files of head", []string{"ls-tree", "-r", "--name-only", "main"}, "apps/web.yaml"},
		{"files of the first commit", []string{"ls-tree", "-r", "--name-only", first}, "README.md\napps/web.yaml"},
		{"content, without the trailing newline", []string{"show", first + ":README.md"}, "hi"},
		{"bare", []string{"rev-parse", "--is-bare-repository"}, "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gittest.Git(t, bare, tt.args...); got != tt.want {
				t.Errorf("git %v = %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}
