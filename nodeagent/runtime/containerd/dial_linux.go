package containerd

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// dialInNetNS dials addr (TCP) from the network namespace at nsPath. The
// socket is made on a fresh, locked OS thread moved into that namespace;
// the thread is never unlocked, so it ends with its goroutine and runs no
// other code in the pod's namespace. The connection stays in the namespace
// it was made in.
func dialInNetNS(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread exits with this goroutine.
		f, err := os.Open(nsPath)
		if err != nil {
			done <- result{err: fmt.Errorf("open network namespace: %w", err)}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("enter network namespace %s: %w", nsPath, err)}
			return
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}
