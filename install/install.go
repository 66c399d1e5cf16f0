package install

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Systemctl runs systemctl; ExecSystemctl is the real one, tests pass a
// fake that records the calls.
type Systemctl interface {
	// Run runs systemctl with args and returns its combined output; it
	// blocks until systemctl exits (for "start" of a Type=notify unit:
	// until the service reported READY=1 or failed) or ctx ends.
	Run(ctx context.Context, args ...string) ([]byte, error)
}

// ExecSystemctl runs the systemctl program.
type ExecSystemctl struct{}

// Run implements Systemctl.
func (ExecSystemctl) Run(ctx context.Context, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Config is what Install writes.
type Config struct {
	// Root prefixes every path written ("" is the machine's root).
	Root string
	// Role is the service installed.
	Role Role
	// Binary is the bosun program copied to BinaryPath (os.Executable).
	Binary string
	// Flags are the service's flags by name (without "--"), written as the
	// config file's keys; values are strings, bools, numbers or string
	// lists.
	Flags map[string]any
	// NoStart writes the files only: no systemctl.
	NoStart bool
	// Systemctl reloads, enables and starts the unit unless NoStart.
	Systemctl Systemctl
}

// Result says what Install wrote.
type Result struct {
	// Binary, Config and Unit are the paths written (with Root).
	Binary, Config, Unit string
	// Started is true when the unit was enabled and started.
	Started bool
}

// Install writes the binary, the config file and the unit, then (unless
// NoStart) runs systemctl daemon-reload, enable and restart, which returns
// once the service reported READY=1 (Type=notify). An agent needs the
// "server" and "token" flags: without them Install fails before writing
// anything.
func Install(ctx context.Context, cfg Config) (Result, error) {
	if _, err := ParseRole(string(cfg.Role)); err != nil {
		return Result{}, err
	}
	if err := checkFlags(cfg); err != nil {
		return Result{}, err
	}
	res := Result{
		Binary: Path(cfg.Root, BinaryPath),
		Config: Path(cfg.Root, ConfigPath),
		Unit:   Path(cfg.Root, UnitDir, cfg.Role.UnitName()),
	}
	if err := copyBinary(cfg.Binary, res.Binary); err != nil {
		return Result{}, err
	}
	cf, err := ConfigFile(cfg.Role, cfg.Flags)
	if err != nil {
		return Result{}, err
	}
	// The config file may hold a token or a secret: root only.
	if err := writeAtomic(res.Config, cf, 0o600); err != nil {
		return Result{}, err
	}
	if err := writeAtomic(res.Unit, []byte(Unit(cfg.Role)), 0o644); err != nil {
		return Result{}, err
	}
	if cfg.NoStart {
		return res, nil
	}
	if cfg.Systemctl == nil {
		return res, fmt.Errorf("install: no systemctl to start %s with", cfg.Role.UnitName())
	}
	// restart, not enable --now: an upgrade (install run again) must restart
	// a running service on the new binary and config; it starts a stopped
	// one. For a Type=notify unit it returns once READY=1 came.
	for _, args := range [][]string{{"daemon-reload"}, {"enable", cfg.Role.UnitName()}, {"restart", cfg.Role.UnitName()}} {
		if _, err := cfg.Systemctl.Run(ctx, args...); err != nil {
			return res, fmt.Errorf("install: start %s (see journalctl -u %s): %w", cfg.Role.UnitName(), cfg.Role.UnitName(), err)
		}
	}
	res.Started = true
	return res, nil
}

// checkFlags refuses an agent install that cannot join: without --server
// and --token the service would fail to start over and over.
func checkFlags(cfg Config) error {
	if cfg.Role != Agent {
		return nil
	}
	var missing []string
	for _, name := range []string{"server", "token"} {
		if s, _ := cfg.Flags[name].(string); s == "" {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("install agent: %s missing: an agent joins a server with them (on the server, \"bosun token create\" prints both)", strings.Join(missing, " and "))
	}
	return nil
}

// Path joins root and the parts of a path on the machine.
func Path(root string, parts ...string) string {
	if root == "" {
		root = "/"
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

// ConfigFile renders the config file of flags: YAML, flag names as keys
// in name order, after a comment saying what wrote it.
func ConfigFile(r Role, flags map[string]any) ([]byte, error) {
	body := []byte{}
	if len(flags) > 0 {
		b, err := yaml.Marshal(flags)
		if err != nil {
			return nil, fmt.Errorf("install: config file: %w", err)
		}
		body = b
	}
	head := "# Flags of \"bosun " + string(r) + "\", written by \"bosun install " + string(r) + "\".\n" +
		"# Keys are flag names; command-line flags and BOSUN_* variables override them.\n"
	return append([]byte(head), body...), nil
}

// copyBinary copies src to dst through a temporary file in dst's directory
// renamed over dst: a running bosun keeps its old inode, and dst is never
// half written.
func copyBinary(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("install: binary: %w", err)
	}
	defer in.Close()
	if err := writeAtomicFrom(dst, in, 0o755); err != nil {
		return err
	}
	return nil
}

// writeAtomic writes b to path through a temporary file and a rename.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	return writeAtomicFrom(path, bytes.NewReader(b), mode)
}

func writeAtomicFrom(path string, r io.Reader, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("install: write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("install: %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("install: %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install: %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}
