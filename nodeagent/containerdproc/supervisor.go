package containerdproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	client "github.com/containerd/containerd/v2/client"
)

// resetAfter is how long a child must run for the restart delay to go back
// to its minimum.
const resetAfter = 30 * time.Second

// startPoll is how often Start looks for containerd's socket and asks for
// its Version until it answers: a missing socket costs one failed dial,
// while a coarse poll adds up to its interval to every start of the agent
// (containerd itself boots in about 100ms).
const startPoll = 10 * time.Millisecond

// outputTail is how many of the child's last output lines are kept for error
// messages.
const outputTail = 20

// Supervisor runs containerd as a child process and restarts it whenever it
// exits, until the context given to Start ends.
type Supervisor struct {
	cfg  Config
	done chan struct{}

	mu     sync.Mutex
	pid    int      // running child, 0 when none
	starts int      // children started so far
	exits  int      // children that exited on their own
	last   error    // why the last child exited
	tail   []string // last lines of output
}

// Start writes the config, starts containerd and waits until it answers a
// Version call (or Config.StartTimeout passes, or the child exits: then it
// stops everything and returns an error with the child's last output). From
// then on containerd is restarted with a backoff whenever it exits, until ctx
// ends: then it gets SIGTERM, and SIGKILL after Config.StopTimeout. Wait
// blocks until that is done.
func Start(ctx context.Context, cfg Config) (*Supervisor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	binary, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("containerd: %s not found (make deps installs containerd): %w", cfg.Binary, err)
	}
	for _, d := range []string{cfg.Dir, cfg.Dir + "/root", cfg.Dir + "/state"} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("containerd: %w", err)
		}
	}
	if err := os.WriteFile(configPath(cfg.Dir), []byte(renderConfig(cfg.Dir)), 0o644); err != nil {
		return nil, fmt.Errorf("containerd: write config: %w", err)
	}
	if answering(socketPath(cfg.Dir)) {
		return nil, fmt.Errorf("containerd: a daemon already listens on %s; stop it or use it with --containerd-socket", socketPath(cfg.Dir))
	}

	runCtx, cancel := context.WithCancel(ctx)
	s := &Supervisor{cfg: cfg, done: make(chan struct{})}
	go s.run(runCtx, binary)

	fail := func(err error) (*Supervisor, error) {
		cancel()
		<-s.done
		if tail := s.outputTail(); tail != "" {
			err = fmt.Errorf("%w; its last output:\n%s", err, tail)
		}
		return nil, err
	}
	deadline := time.Now().Add(cfg.StartTimeout)
	for {
		if n, last := s.exited(); n > 0 {
			return fail(fmt.Errorf("containerd: did not start: %w", last))
		}
		err := fmt.Errorf("nothing listens on %s yet", s.Address())
		if answering(s.Address()) {
			actx, acancel := context.WithTimeout(runCtx, 2*time.Second)
			var c *client.Client
			c, err = Connect(actx, s.Address())
			acancel()
			if err == nil {
				c.Close()
			}
		}
		if err == nil {
			cfg.Logger.Info("containerd is up", "socket", s.Address(), "pid", s.PID())
			// runCtx ends with ctx; release it then.
			context.AfterFunc(ctx, cancel)
			return s, nil
		}
		if ctx.Err() != nil {
			return fail(fmt.Errorf("containerd: start: %w", ctx.Err()))
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("containerd: no answer on %s after %s: %w", s.Address(), cfg.StartTimeout, err))
		}
		t := time.NewTimer(startPoll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// Address returns the path of containerd's gRPC socket.
func (s *Supervisor) Address() string { return socketPath(s.cfg.Dir) }

// Wait blocks until the supervisor stopped, after the context given to Start
// ended and containerd exited.
func (s *Supervisor) Wait() { <-s.done }

// PID returns the process id of the running containerd, or 0 while none
// runs (between a crash and its restart, or after the supervisor stopped).
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

// Starts returns how many times containerd was started.
func (s *Supervisor) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// exited returns how many children exited on their own and why the last did.
func (s *Supervisor) exited() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exits, s.last
}

// outputTail returns the child's last output lines.
func (s *Supervisor) outputTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// run starts containerd and restarts it until ctx ends.
func (s *Supervisor) run(ctx context.Context, binary string) {
	defer close(s.done)
	// The child is killed when the thread that started it exits
	// (Pdeathsig): start every child from this one locked thread, which
	// lives as long as the supervisor. The thread ends with the goroutine.
	runtime.LockOSThread()
	log := s.cfg.Logger
	delay := s.cfg.MinRestartDelay
	for {
		began := time.Now()
		err := s.runOnce(ctx, binary)
		if ctx.Err() != nil {
			log.Info("containerd stopped", "socket", s.Address())
			return
		}
		if time.Since(began) >= resetAfter {
			delay = s.cfg.MinRestartDelay
		}
		log.Error("containerd exited; restarting it", "err", err, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			log.Info("containerd stopped", "socket", s.Address())
			return
		}
		delay = min(delay*2, s.cfg.MaxRestartDelay)
	}
}

// runOnce runs one containerd until it exits (returning why) or ctx ends
// (stopping it and returning nil).
func (s *Supervisor) runOnce(ctx context.Context, binary string) error {
	// A killed containerd leaves its sockets behind.
	os.Remove(s.Address())
	os.Remove(s.Address() + ".ttrpc")
	r, w, err := os.Pipe()
	if err != nil {
		return s.recordExit(fmt.Errorf("containerd: %w", err))
	}
	cmd := exec.Command(binary, "--config", configPath(s.cfg.Dir))
	cmd.Dir = s.cfg.Dir
	// An *os.File, so that exec copies nothing and Wait does not wait for
	// shims that may inherit the pipe.
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return s.recordExit(fmt.Errorf("containerd: start %s: %w", binary, err))
	}
	go s.copyOutput(r)
	s.mu.Lock()
	s.pid = cmd.Process.Pid
	s.starts++
	s.mu.Unlock()
	s.cfg.Logger.Debug("containerd started", "pid", cmd.Process.Pid, "config", configPath(s.cfg.Dir))

	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	select {
	case err := <-waitc:
		if err == nil {
			err = errors.New("exit status 0")
		}
		return s.recordExit(fmt.Errorf("containerd (pid %d) exited: %w", cmd.Process.Pid, err))
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(s.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-waitc:
	case <-t.C:
		s.cfg.Logger.Warn("containerd did not stop after SIGTERM; killing it", "pid", cmd.Process.Pid, "after", s.cfg.StopTimeout)
		_ = cmd.Process.Kill()
		<-waitc
	}
	s.mu.Lock()
	s.pid = 0
	s.mu.Unlock()
	return nil
}

// recordExit notes that the child is gone and why.
func (s *Supervisor) recordExit(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pid = 0
	s.exits++
	s.last = err
	return err
}

// copyOutput logs the child's output line by line and keeps its tail.
func (s *Supervisor) copyOutput(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		s.cfg.Logger.Log(context.Background(), lineLevel(line), "containerd", "line", line)
		s.mu.Lock()
		s.tail = append(s.tail, line)
		if len(s.tail) > outputTail {
			s.tail = s.tail[len(s.tail)-outputTail:]
		}
		s.mu.Unlock()
	}
}

// lineLevel maps a line of containerd's (logrus) output to a log level:
// error, fatal and panic lines are errors, everything else is debug.
func lineLevel(line string) slog.Level {
	i := strings.Index(line, "level=")
	if i < 0 {
		return slog.LevelDebug
	}
	lvl := line[i+len("level="):]
	if j := strings.IndexByte(lvl, ' '); j >= 0 {
		lvl = lvl[:j]
	}
	switch strings.Trim(lvl, `"`) {
	case "error", "fatal", "panic":
		return slog.LevelError
	}
	return slog.LevelDebug
}

// answering reports whether something accepts connections on the unix
// socket at path.
func answering(path string) bool {
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Connect returns a client of the containerd at address (a socket path)
// whose default namespace is Namespace, after checking that the daemon
// answers a Version call within ctx. Options are applied after the default
// namespace, so client.WithDefaultNamespace overrides it. The caller closes
// the client.
func Connect(ctx context.Context, address string, opts ...client.Opt) (*client.Client, error) {
	opts = append([]client.Opt{client.WithDefaultNamespace(Namespace), client.WithTimeout(10 * time.Second)}, opts...)
	c, err := client.New(address, opts...)
	if err != nil {
		return nil, fmt.Errorf("containerd: connect %s: %w", address, err)
	}
	if _, err := c.Version(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("containerd: %s does not answer: %w", address, err)
	}
	return c, nil
}
