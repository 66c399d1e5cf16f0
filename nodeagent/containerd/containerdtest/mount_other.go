//go:build !linux

package containerdtest

// unmountUnder does nothing: containerd's mounts exist on Linux only.
func unmountUnder(dir string) error { return nil }
