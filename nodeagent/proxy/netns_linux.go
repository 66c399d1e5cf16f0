package proxy

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// RunInNetNS runs fn on an OS thread that has joined the network namespace
// at path (e.g. /run/netns/NAME), and waits for it. Sockets fn opens and
// programs fn starts live in that namespace. The thread is discarded
// afterwards, so no other goroutine ever runs in the namespace by accident.
func RunInNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine's end then terminates the thread,
		// which still sits in the other namespace.
		runtime.LockOSThread()
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("proxy: open network namespace %s: %w", path, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("proxy: enter network namespace %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
