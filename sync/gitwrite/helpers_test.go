package gitwrite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"

	"github.com/bosun-dev/bosun/internal/gittest"
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

// show returns a file at a revision of repo.
func show(t *testing.T, repo, rev, path string) string {
	t.Helper()
	return gittest.Git(t, repo, "show", rev+":"+path)
}

// files lists the files of a revision.
func files(t *testing.T, repo, rev string) string {
	t.Helper()
	return gittest.Git(t, repo, "ls-tree", "-r", "--name-only", rev)
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
