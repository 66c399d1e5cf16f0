package install_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/bosun-dev/bosun/install"
)

// fakeSystemctl records its calls and fails those listed in fail.
type fakeSystemctl struct {
	calls [][]string
	fail  map[string]bool // by first argument
}

func (f *fakeSystemctl) Run(_ context.Context, args ...string) ([]byte, error) {
	f.calls = append(f.calls, args)
	if f.fail[args[0]] {
		return nil, errors.New("systemctl " + strings.Join(args, " ") + ": failed")
	}
	return nil, nil
}

// fakeBinary writes a file standing for the running bosun.
func fakeBinary(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bosun")
	if err := os.WriteFile(p, []byte(content), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUnit(t *testing.T) {
	tests := []struct {
		role install.Role
		want []string
	}{
		{role: install.Server, want: []string{"ExecStart=/usr/local/bin/bosun server --config /etc/bosun/config.yaml"}},
		{role: install.Agent, want: []string{"ExecStart=/usr/local/bin/bosun agent --config /etc/bosun/config.yaml"}},
	}
	common := []string{
		"Type=notify", "NotifyAccess=main", "KillMode=process", "Delegate=yes", "Restart=always", "RestartSec=5s",
		"LimitNOFILE=1048576", "LimitNPROC=infinity", "LimitCORE=infinity", "TasksMax=infinity", "TimeoutStartSec=0",
		"ExecStartPre=-/sbin/modprobe br_netfilter", "ExecStartPre=-/sbin/modprobe overlay",
		"Wants=network-online.target", "After=network-online.target", "WantedBy=multi-user.target",
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			lines := strings.Split(install.Unit(tt.role), "\n")
			for _, w := range append(common, tt.want...) {
				if !slices.Contains(lines, w) {
					t.Errorf("unit of %s has no line %q:\n%s", tt.role, w, install.Unit(tt.role))
				}
			}
			// Each setting once: a second KillMode= would silently win.
			seen := map[string]bool{}
			for _, l := range lines {
				k, _, ok := strings.Cut(l, "=")
				if !ok || strings.HasPrefix(l, "#") || k == "ExecStartPre" {
					continue
				}
				if seen[k] {
					t.Errorf("unit of %s sets %s twice", tt.role, k)
				}
				seen[k] = true
			}
		})
	}
}

func TestInstall(t *testing.T) {
	tests := []struct {
		name      string
		role      install.Role
		flags     map[string]any
		noStart   bool
		wantCalls [][]string
		wantErr   string // part of the error; "" for none
		wantFiles bool
	}{
		{
			name:      "server",
			role:      install.Server,
			flags:     map[string]any{"repo": "https://git.example.com/deploy.git", "tls-san": []string{"a.example.com", "10.0.0.1"}, "no-webhook": true, "interval": "1m0s"},
			wantCalls: [][]string{{"daemon-reload"}, {"enable", "bosun-server.service"}, {"restart", "bosun-server.service"}},
			wantFiles: true,
		},
		{
			name:      "agent",
			role:      install.Agent,
			flags:     map[string]any{"server": "https://10.0.0.1:6443", "token": "abcdef.0123456789abcdef", "ca-cert-hash": "sha256:00"},
			wantCalls: [][]string{{"daemon-reload"}, {"enable", "bosun-agent.service"}, {"restart", "bosun-agent.service"}},
			wantFiles: true,
		},
		{
			name:      "no start",
			role:      install.Server,
			flags:     map[string]any{"repo": "/srv/repo"},
			noStart:   true,
			wantFiles: true,
		},
		{
			name:    "agent without a token",
			role:    install.Agent,
			flags:   map[string]any{"server": "https://10.0.0.1:6443"},
			wantErr: "--token missing",
		},
		{
			name:    "agent without server and token",
			role:    install.Agent,
			wantErr: "--server and --token missing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			sc := &fakeSystemctl{}
			res, err := install.Install(t.Context(), install.Config{
				Root: root, Role: tt.role, Binary: fakeBinary(t, "new bosun"), Flags: tt.flags, NoStart: tt.noStart, Systemctl: sc,
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Install error = %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(sc.calls, tt.wantCalls, slices.Equal) {
				t.Errorf("systemctl calls %q, want %q", sc.calls, tt.wantCalls)
			}
			if res.Started != (len(tt.wantCalls) > 0) {
				t.Errorf("Started = %v", res.Started)
			}
			checkFiles(t, root, tt.role, tt.flags, tt.wantFiles)
		})
	}
}

// checkFiles checks the binary, config file and unit under root, or that
// none was written.
func checkFiles(t *testing.T, root string, role install.Role, flags map[string]any, want bool) {
	t.Helper()
	if !want {
		entries, _ := os.ReadDir(root)
		if len(entries) > 0 {
			t.Errorf("a failed install wrote %d entries under the root", len(entries))
		}
		return
	}
	files := []struct {
		path string
		mode os.FileMode
	}{
		{install.BinaryPath, 0o755},
		{install.ConfigPath, 0o600},
		{filepath.Join(install.UnitDir, role.UnitName()), 0o644},
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(root, f.path))
		if err != nil {
			t.Errorf("not written: %v", err)
			continue
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, st.Mode().Perm(), f.mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, install.BinaryPath)); string(b) != "new bosun" {
		t.Errorf("binary holds %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, install.UnitDir, role.UnitName())); string(b) != install.Unit(role) {
		t.Errorf("unit file differs from Unit(%s)", role)
	}
	got, err := install.ReadConfig(filepath.Join(root, install.ConfigPath))
	if err != nil {
		t.Fatal(err)
	}
	wantYAML, _ := yaml.Marshal(flags)
	gotYAML, _ := yaml.Marshal(got)
	if len(flags) > 0 && !bytes.Equal(gotYAML, wantYAML) {
		t.Errorf("config file holds\n%s\nwant\n%s", gotYAML, wantYAML)
	}
}

// TestInstallReplacesRunningBinary installs over a binary that is open, as
// a running bosun's is: the old file stays whole for whoever has it open
// (a new inode was renamed over it), the path holds the new one, and no
// temporary file remains.
func TestInstallReplacesRunningBinary(t *testing.T) {
	root := t.TempDir()
	cfg := install.Config{Root: root, Role: install.Server, Binary: fakeBinary(t, "old bosun"), NoStart: true}
	if _, err := install.Install(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	running, err := os.Open(filepath.Join(root, install.BinaryPath))
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	cfg.Binary = fakeBinary(t, "new bosun, longer than the old one")
	if _, err := install.Install(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(running); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "old bosun" {
		t.Errorf("the running binary now reads %q: it was overwritten in place", buf.String())
	}
	if b, _ := os.ReadFile(filepath.Join(root, install.BinaryPath)); string(b) != "new bosun, longer than the old one" {
		t.Errorf("installed binary holds %q", b)
	}
	entries, _ := os.ReadDir(filepath.Join(root, filepath.Dir(install.BinaryPath)))
	if len(entries) != 1 {
		t.Errorf("%d files in the binary's directory, want 1 (a temporary file left?)", len(entries))
	}
}

func TestInstallStartFails(t *testing.T) {
	sc := &fakeSystemctl{fail: map[string]bool{"restart": true}}
	_, err := install.Install(t.Context(), install.Config{Root: t.TempDir(), Role: install.Server, Binary: fakeBinary(t, "b"), Systemctl: sc})
	if err == nil || !strings.Contains(err.Error(), "journalctl -u bosun-server.service") {
		t.Errorf("error %v does not say where to look", err)
	}
}
