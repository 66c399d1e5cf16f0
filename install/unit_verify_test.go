package install_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/install"
	"github.com/bosun-dev/bosun/internal/testenv"
)

// TestUnitVerifies has systemd's own parser check the units: an unknown
// key or a value systemd cannot parse is only a warning at daemon-reload,
// and the setting is silently ignored. The one complaint allowed is that
// /usr/local/bin/bosun is not there (the test does not install it).
func TestUnitVerifies(t *testing.T) {
	testenv.Need(t, testenv.Binary("systemd-analyze"))
	for _, role := range []install.Role{install.Server, install.Agent} {
		t.Run(string(role), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), role.UnitName())
			if err := os.WriteFile(path, []byte(install.Unit(role)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, _ := exec.CommandContext(t.Context(), "systemd-analyze", "verify", "--man=no", path).CombinedOutput()
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if l == "" || strings.Contains(l, "Command "+install.BinaryPath+" is not executable") {
					continue
				}
				t.Errorf("systemd-analyze verify: %s", l)
			}
		})
	}
}
