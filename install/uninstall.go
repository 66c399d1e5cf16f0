package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// UninstallConfig says what Uninstall removes.
type UninstallConfig struct {
	// Root prefixes every path ("" is the machine's root).
	Root string
	// DataDir is the data directory on the machine (without Root); ""
	// means the config file's data-dir, else DataDir.
	DataDir string
	// Purge removes the data directory too (etcd, certificates, images).
	Purge bool
	// Systemctl stops and disables the units; nil skips systemctl.
	Systemctl Systemctl
	// Cleanup removes the node's pods, network namespaces, bridge, routes
	// and service rules (cleanup.Node, wired in cmd) for the data
	// directory it is given (with Root); nil skips it. Under a Root other
	// than the machine's it runs only when the data directory exists.
	Cleanup func(ctx context.Context, dataDir string) error
	// StopProcesses stops the processes still running from the data
	// directory it is given (with Root): bosun's containerd and its
	// shims; nil skips it.
	StopProcesses func(ctx context.Context, dataDir string) error
	// Logger says what was removed; nil discards.
	Logger *slog.Logger
}

// Removed lists what Uninstall removed.
type Removed struct {
	// Units are the units stopped and disabled.
	Units []string
	// Paths are the files and directories removed (with Root).
	Paths []string
	// DataDir is the data directory (with Root), kept unless Purge.
	DataDir string
}

// Uninstall stops and disables bosun's units, runs the node cleanup, stops
// what still runs from the data directory, and removes the binary, the
// units, /etc/bosun, the admin kubeconfig bosun wrote and bosun's
// containerd state, and with Purge the data directory. Every step runs even
// when one before failed; the errors are joined. The data directory is not
// removed while something is mounted under it (a pod's volume would be
// deleted with it).
func Uninstall(ctx context.Context, cfg UninstallConfig) (Removed, error) {
	defaults.Logger(&cfg.Logger)
	flags, err := ReadConfig(Path(cfg.Root, ConfigPath))
	if err != nil {
		cfg.Logger.Warn("config file unreadable; uninstalling with the default paths", "err", err)
	}
	dataDir := cfg.DataDir
	if dataDir == "" {
		dataDir = flagString(flags, "data-dir", DataDir)
	}
	out := Removed{DataDir: Path(cfg.Root, dataDir)}
	var errs []error
	if cfg.Systemctl != nil {
		units, err := stopUnits(ctx, cfg)
		out.Units = units
		errs = append(errs, err)
	}
	// The node cleanup works on this machine's network namespace: under a
	// root that is not the machine's, only when that root has a data
	// directory (a test's node, say), never for an empty packaging tree.
	if _, err := os.Stat(out.DataDir); cfg.Cleanup != nil && (isMachineRoot(cfg.Root) || err == nil) {
		if err := cfg.Cleanup(ctx, out.DataDir); err != nil {
			errs = append(errs, fmt.Errorf("uninstall: node cleanup: %w", err))
		}
	}
	if cfg.StopProcesses != nil {
		if err := cfg.StopProcesses(ctx, out.DataDir); err != nil {
			errs = append(errs, fmt.Errorf("uninstall: stop processes: %w", err))
		}
	}
	paths := []string{
		Path(cfg.Root, BinaryPath),
		Path(cfg.Root, UnitDir, Server.UnitName()),
		Path(cfg.Root, UnitDir, Agent.UnitName()),
		Path(cfg.Root, ConfigDir),
		Path(cfg.Root, flagString(flags, "write-kubeconfig", filepath.Join(dataDir, "kubeconfig"))),
	}
	// containerd's runtime state (sockets, shim bundles) means nothing once
	// its tasks are gone; its images stay until Purge. A container's rootfs
	// still mounted there would be deleted with it: then it stays.
	state := filepath.Join(out.DataDir, "containerd", "state")
	if err := checkNoMounts(state); err != nil {
		errs = append(errs, err)
	} else {
		paths = append(paths, state)
	}
	if cfg.Purge {
		if err := checkNoMounts(out.DataDir); err != nil {
			errs = append(errs, err)
		} else {
			paths = append(paths, out.DataDir)
		}
	}
	for _, p := range paths {
		removed, err := remove(p)
		errs = append(errs, err)
		if removed {
			out.Paths = append(out.Paths, p)
			cfg.Logger.Info("removed", "path", p)
		}
	}
	if cfg.Systemctl != nil && len(out.Units) > 0 {
		if _, err := cfg.Systemctl.Run(ctx, "daemon-reload"); err != nil {
			errs = append(errs, fmt.Errorf("uninstall: %w", err))
		}
	}
	return out, errors.Join(errs...)
}

// stopUnits stops and disables the units whose files are installed.
func stopUnits(ctx context.Context, cfg UninstallConfig) ([]string, error) {
	var units []string
	var errs []error
	for _, r := range []Role{Server, Agent} {
		if _, err := os.Stat(Path(cfg.Root, UnitDir, r.UnitName())); err != nil {
			continue
		}
		if _, err := cfg.Systemctl.Run(ctx, "disable", "--now", r.UnitName()); err != nil {
			errs = append(errs, fmt.Errorf("uninstall: stop %s: %w", r.UnitName(), err))
			continue
		}
		units = append(units, r.UnitName())
		cfg.Logger.Info("stopped and disabled", "unit", r.UnitName())
	}
	return units, errors.Join(errs...)
}

// remove removes path and everything under it; a path that is not there
// is no error.
func remove(path string) (bool, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err := os.RemoveAll(path); err != nil {
		return false, fmt.Errorf("uninstall: %w", err)
	}
	return true, nil
}

// ReadConfig reads the flags of a config file Install wrote; a missing
// file is an empty set.
func ReadConfig(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	var flags map[string]any
	if err := yaml.Unmarshal(b, &flags); err != nil {
		return nil, fmt.Errorf("install: %s: %w", path, err)
	}
	return flags, nil
}

// isMachineRoot reports whether root is the machine's own.
func isMachineRoot(root string) bool { return root == "" || root == "/" }

// flagString is the string flag name of flags, or def when not set.
func flagString(flags map[string]any, name, def string) string {
	if s, ok := flags[name].(string); ok && s != "" {
		return s
	}
	return def
}
