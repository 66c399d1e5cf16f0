package gitwrite

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
)

// TestMain serves file:// URLs with go-git's in-process server, so the
// clone-and-push path is tested without network. client.InstallProtocol is
// process-wide state, which is why only the test binary sets it.
func TestMain(m *testing.M) {
	client.InstallProtocol("file", server.NewClient(server.NewFilesystemLoader(osfs.New("/"))))
	os.Exit(m.Run())
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// git runs the git command line tool in dir with a private configuration.
func gitCLI(t *testing.T, dir string, args ...string) string {
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
		"GIT_AUTHOR_NAME=Jo User", "GIT_AUTHOR_EMAIL=jo@example.com",
		"GIT_COMMITTER_NAME=Jo User", "GIT_COMMITTER_EMAIL=jo@example.com",
		"GIT_TERMINAL_PROMPT=0",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimRight(string(out), "\n")
}

// newRepo makes a non-bare repository on main.
func newRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	gitCLI(t, dir, "init", "-q", "-b", "main")
	return dir
}

// commitFiles writes files (content "" removes the file) and commits them
// with git; it returns the new SHA.
func commitFiles(t *testing.T, dir, msg string, files map[string]string) string {
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
	gitCLI(t, dir, "add", "-A")
	gitCLI(t, dir, "commit", "-q", "-m", msg)
	return gitCLI(t, dir, "rev-parse", "HEAD")
}

// bareClone makes a bare copy of dir to serve as a remote.
func bareClone(t *testing.T, dir string) string {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "remote.git")
	gitCLI(t, dir, "clone", "-q", "--bare", dir, bare)
	return bare
}

// show returns a file at a revision of repo.
func show(t *testing.T, repo, rev, path string) string {
	t.Helper()
	return gitCLI(t, repo, "show", rev+":"+path)
}

// files lists the files of a revision.
func files(t *testing.T, repo, rev string) string {
	t.Helper()
	return gitCLI(t, repo, "ls-tree", "-r", "--name-only", rev)
}

func newTestWriter(t *testing.T, url string, remote bool, mod func(*Config)) *Writer {
	t.Helper()
	cfg := Config{
		URL:     url,
		Branch:  "main",
		WorkDir: filepath.Join(t.TempDir(), "work"),
		Author:  Signature{Name: "Bo Sun", Email: "bo@example.com"},
		Now:     func() time.Time { return time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC) },
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := newWriter(cfg, remote)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// setFile returns an edit writing one file.
func setFile(p, data string) func(*Tree) error {
	return func(t *Tree) error { return t.WriteFile(p, []byte(data)) }
}
