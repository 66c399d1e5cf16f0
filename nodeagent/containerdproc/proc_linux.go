package containerdproc

import "syscall"

// sysProcAttr puts containerd in its own process group (a Ctrl-C for bosun
// does not reach it: bosun stops it) and kills it if bosun dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
