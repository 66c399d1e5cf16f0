//go:build !linux

package containerdproc

import "syscall"

// sysProcAttr returns nil: containerd runs bosun's containers on Linux only.
func sysProcAttr() *syscall.SysProcAttr { return nil }
