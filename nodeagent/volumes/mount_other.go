//go:build !linux

package volumes

import "errors"

// mountTmpfs is Linux-only.
func mountTmpfs(dir, opts string) error {
	return errors.New("tmpfs mounts need Linux")
}

// unmountUnder has nothing to do where the agent never mounts.
func unmountUnder(dir string) error { return nil }
