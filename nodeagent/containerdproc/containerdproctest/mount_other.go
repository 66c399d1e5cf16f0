//go:build !linux

package containerdproctest

// unmountUnder does nothing: containerd's mounts exist on Linux only.
func unmountUnder(dir string) error { return nil }
