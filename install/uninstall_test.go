package install_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bosun-dev/bosun/install"
)

// mkfile writes a file under root, making its directories.
func mkfile(t *testing.T, root, path string) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func exists(root, path string) bool {
	_, err := os.Lstat(filepath.Join(root, path))
	return err == nil
}

func TestUninstall(t *testing.T) {
	tests := []struct {
		name      string
		flags     map[string]any // of the installed server
		purge     bool
		extra     []string // files bosun wrote, besides the install's
		wantGone  []string
		wantKept  []string
		wantClean string // the data directory the cleanup is given
	}{
		{
			name:      "default paths",
			flags:     map[string]any{"repo": "/srv/repo"},
			extra:     []string{"/var/lib/bosun/kubeconfig", "/var/lib/bosun/etcd/member", "/var/lib/bosun/containerd/state/io.containerd.runtime.v2.task/x", "/etc/bosun/config.yaml.d/10.yaml"},
			wantGone:  []string{install.BinaryPath, "/etc/bosun", "/etc/systemd/system/bosun-server.service", "/var/lib/bosun/kubeconfig", "/var/lib/bosun/containerd/state"},
			wantKept:  []string{"/var/lib/bosun/etcd/member"},
			wantClean: "/var/lib/bosun",
		},
		{
			name:      "purge",
			flags:     map[string]any{"repo": "/srv/repo"},
			purge:     true,
			extra:     []string{"/var/lib/bosun/kubeconfig", "/var/lib/bosun/etcd/member"},
			wantGone:  []string{install.BinaryPath, "/etc/bosun", "/var/lib/bosun"},
			wantClean: "/var/lib/bosun",
		},
		{
			name:      "data dir and kubeconfig from the config file",
			flags:     map[string]any{"repo": "/srv/repo", "data-dir": "/srv/bosun", "write-kubeconfig": "/root/.kube/bosun"},
			extra:     []string{"/root/.kube/bosun", "/root/.kube/other", "/srv/bosun/etcd/member"},
			wantGone:  []string{"/root/.kube/bosun"},
			wantKept:  []string{"/root/.kube/other", "/srv/bosun/etcd/member"},
			wantClean: "/srv/bosun",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if _, err := install.Install(t.Context(), install.Config{Root: root, Role: install.Server, Binary: fakeBinary(t, "b"), Flags: tt.flags, NoStart: true}); err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.extra {
				mkfile(t, root, p)
			}
			sc := &fakeSystemctl{}
			var cleaned []string
			removed, err := install.Uninstall(t.Context(), install.UninstallConfig{
				Root:      root,
				Purge:     tt.purge,
				Systemctl: sc,
				Cleanup: func(_ context.Context, dir string) error {
					cleaned = append(cleaned, dir)
					if !exists("/", dir) && !tt.purge {
						t.Errorf("cleanup given %s, which does not exist", dir)
					}
					return nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{filepath.Join(root, tt.wantClean)}; !slices.Equal(cleaned, want) {
				t.Errorf("cleanup ran for %q, want %q", cleaned, want)
			}
			wantCalls := [][]string{{"disable", "--now", "bosun-server.service"}, {"daemon-reload"}}
			if !slices.EqualFunc(sc.calls, wantCalls, slices.Equal) {
				t.Errorf("systemctl calls %q, want %q", sc.calls, wantCalls)
			}
			if !slices.Equal(removed.Units, []string{"bosun-server.service"}) {
				t.Errorf("units %q", removed.Units)
			}
			for _, p := range tt.wantGone {
				if exists(root, p) {
					t.Errorf("%s is still there", p)
				}
			}
			for _, p := range tt.wantKept {
				if !exists(root, p) {
					t.Errorf("%s was removed", p)
				}
			}
		})
	}
}

// TestUninstallNothingInstalled runs on a root where bosun never was: no
// systemctl call, no node cleanup (it would clean this machine's network
// namespace for a tree that has no node), nothing removed, no error.
func TestUninstallNothingInstalled(t *testing.T) {
	sc := &fakeSystemctl{}
	removed, err := install.Uninstall(t.Context(), install.UninstallConfig{
		Root: t.TempDir(), Systemctl: sc, Purge: true,
		Cleanup: func(context.Context, string) error {
			t.Error("node cleanup ran for a root without a data directory")
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.calls) != 0 || len(removed.Paths) != 0 {
		t.Errorf("systemctl calls %q, removed %q; want none", sc.calls, removed.Paths)
	}
}
