package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// Execer runs commands in running containers; the agent type-asserts its
// Runtime to it for `bosun exec`. *Runtime implements it.
type Execer interface {
	// Exec runs cmd in container id with the given streams (stdin may be
	// nil) and returns its exit code once it ended and its output is
	// copied. ErrNotFound for an unknown container, ErrInvalidState when it
	// does not run.
	Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) (int, error)
}

var _ Execer = (*Runtime)(nil)

// Exec runs cmd in the running container id, with the container's process
// settings (user, environment, working directory), and returns its exit
// code. With tty the command gets a terminal and stderr is not used. When
// ctx ends the command is killed.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) (int, error) {
	return r.exec(ctx, id, cmd, stdin, stdout, stderr, tty, nil)
}

// ExecTTY is Exec with a terminal whose size follows resize (kubectl exec
// -t): each size received is applied to the terminal until the command
// ends. The terminal's output (stdout and stderr both) goes to stdout.
func (r *Runtime) ExecTTY(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout io.Writer, resize <-chan runtime.TerminalSize) (int, error) {
	return r.exec(ctx, id, cmd, stdin, stdout, nil, true, resize)
}

func (r *Runtime) exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool, resize <-chan runtime.TerminalSize) (int, error) {
	ctx = r.withNS(ctx)
	if len(cmd) == 0 {
		return 0, errors.New("containerd runtime: exec: no command")
	}
	if _, err := r.loadOurs(ctx, id); err != nil {
		return 0, fmt.Errorf("containerd runtime: exec in %w", err)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("containerd runtime: exec in container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return 0, fmt.Errorf("containerd runtime: exec in container %s: it does not run: %w", id, runtime.ErrInvalidState)
		}
		return 0, fmt.Errorf("containerd runtime: exec in container %s: %w", id, err)
	}
	if st, err := task.Status(ctx); err != nil || st.Status != containerd.Running {
		return 0, fmt.Errorf("containerd runtime: exec in container %s: it does not run: %w", id, runtime.ErrInvalidState)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return 0, fmt.Errorf("containerd runtime: exec in container %s: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = tty
	execID, err := newID()
	if err != nil {
		return 0, err
	}
	// The process sees the end of stdin only once the shim closes its side.
	procReady := make(chan containerd.Process, 1)
	if stdin != nil {
		stdin = &eofReader{r: stdin, onEOF: func() {
			if p, ok := <-procReady; ok {
				_ = p.CloseIO(context.WithoutCancel(ctx), containerd.WithStdinCloser)
			}
		}}
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr), cio.WithFIFODir(filepath.Join(r.dir, "fifo"))}
	if tty {
		opts = append(opts, cio.WithTerminal)
	}
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		close(procReady)
		return 0, fmt.Errorf("containerd runtime: exec in container %s: %w", id, err)
	}
	procReady <- proc
	dctx := context.WithoutCancel(ctx)
	defer proc.Delete(dctx, containerd.WithProcessKill)
	exitCh, err := proc.Wait(dctx)
	if err != nil {
		return 0, fmt.Errorf("containerd runtime: exec in container %s: %w", id, err)
	}
	if err := proc.Start(ctx); err != nil {
		return 0, fmt.Errorf("containerd runtime: exec in container %s: %w", id, err)
	}
	if resize != nil {
		stopResize := make(chan struct{})
		defer close(stopResize)
		go func() {
			for {
				select {
				case sz, ok := <-resize:
					if !ok {
						return
					}
					// A failed resize leaves the old size: nothing to report.
					_ = proc.Resize(dctx, uint32(sz.Width), uint32(sz.Height))
				case <-stopResize:
					return
				}
			}
		}()
	}
	var st containerd.ExitStatus
	select {
	case st = <-exitCh:
	case <-ctx.Done():
		_ = proc.Kill(dctx, 9)
		st = <-exitCh
	}
	proc.IO().Wait()
	code, _, err := st.Result()
	if err != nil {
		return 0, fmt.Errorf("containerd runtime: exec in container %s: %w", id, err)
	}
	return int(code), nil
}

// eofReader calls onEOF once when r ends.
type eofReader struct {
	r     io.Reader
	onEOF func()
	done  bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !e.done {
		e.done = true
		e.onEOF()
	}
	return n, err
}
