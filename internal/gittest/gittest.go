package gittest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// Author and Email name the author and committer of every commit Git makes.
const (
	Author = "Jo User"
	Email  = "jo@example.com"
)

// Git runs git with args in dir and returns its output (standard output and
// error together) without the trailing newlines. Each call has 20 seconds.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("git")
	if err != nil {
		testenv.Need(t, testenv.Binary("git"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HOME="+home, "XDG_CONFIG_HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME="+Author, "GIT_AUTHOR_EMAIL="+Email,
		"GIT_COMMITTER_NAME="+Author, "GIT_COMMITTER_EMAIL="+Email,
		"GIT_TERMINAL_PROMPT=0",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimRight(string(out), "\n")
}

// Init makes a repository with a work tree in a new temporary directory, on
// branch main, and returns the directory.
func Init(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	Git(t, dir, "init", "-q", "-b", "main")
	return dir
}

// Write writes files (slash-separated paths relative to dir) with their
// parent directories; a file whose content is "" is removed.
func Write(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		fp := filepath.Join(dir, filepath.FromSlash(p))
		if data == "" {
			if err := os.Remove(fp); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Commit writes files as Write does, commits everything in the work tree
// dir with message msg and returns the new commit's SHA.
func Commit(t testing.TB, dir, msg string, files map[string]string) string {
	t.Helper()
	Write(t, dir, files)
	Git(t, dir, "add", "-A")
	Git(t, dir, "commit", "-q", "-m", msg)
	return Git(t, dir, "rev-parse", "HEAD")
}

// BareClone makes a bare copy of the repository dir, in a new temporary
// directory, to serve as a remote, and returns its path.
func BareClone(t testing.TB, dir string) string {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "remote.git")
	Git(t, dir, "clone", "-q", "--bare", dir, bare)
	return bare
}
