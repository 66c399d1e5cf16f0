package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// CreateContainer creates a containerd container (overlayfs snapshot of the
// image, OCI spec joining the sandbox's network namespace) carrying the
// config's metadata as labels. The image must be present.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	ctx = r.withNS(ctx)
	rec, err := r.readSandbox(sandboxID)
	if err != nil {
		return "", fmt.Errorf("containerd runtime: create container %q: %w", cfg.Metadata.Name, err)
	}
	if rec.State != runtime.SandboxReady {
		return "", fmt.Errorf("containerd runtime: create container %q: sandbox %s is not ready: %w", cfg.Metadata.Name, sandboxID, runtime.ErrInvalidState)
	}
	img, err := r.image(ctx, cfg.Image)
	if err != nil {
		return "", fmt.Errorf("containerd runtime: create container %q: %w", cfg.Metadata.Name, err)
	}
	unlock := r.lockSandbox(sandboxID)
	defer unlock()
	dups, err := r.client.ContainerService().List(ctx, fmt.Sprintf(`labels.%q==%q,labels.%q==%q,labels.%q==%q`,
		LabelSandboxID, sandboxID, runtime.LabelContainerName, cfg.Metadata.Name,
		runtime.LabelAttempt, strconv.FormatUint(uint64(cfg.Metadata.Attempt), 10)))
	if err != nil {
		return "", fmt.Errorf("containerd runtime: create container %q: %w", cfg.Metadata.Name, err)
	}
	if len(dups) > 0 {
		return "", fmt.Errorf("containerd runtime: create container %q attempt %d in sandbox %s: %w",
			cfg.Metadata.Name, cfg.Metadata.Attempt, sandboxID, runtime.ErrAlreadyExists)
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	specOpts, err := r.specOpts(ctx, rec, img, cfg)
	if err != nil {
		return "", fmt.Errorf("containerd runtime: create container %q: %w", cfg.Metadata.Name, err)
	}
	labels := map[string]string{
		LabelSandboxID:              sandboxID,
		runtime.LabelPodUID:         rec.Metadata.UID,
		runtime.LabelPodName:        rec.Metadata.Name,
		runtime.LabelPodNamespace:   rec.Metadata.Namespace,
		runtime.LabelContainerName:  cfg.Metadata.Name,
		runtime.LabelAttempt:        strconv.FormatUint(uint64(cfg.Metadata.Attempt), 10),
		runtime.LabelSandboxAttempt: strconv.FormatUint(uint64(rec.Metadata.Attempt), 10),
		LabelImage:                  cfg.Image,
		LabelImageRef:               img.Target().Digest.String(),
		LabelLogPath:                LogPath(r.dir, rec.Metadata.UID, cfg.Metadata.Name, cfg.Metadata.Attempt),
	}
	for k, v := range cfg.Labels {
		labels[userLabelPrefix+k] = v
	}
	for k, v := range cfg.Annotations {
		labels[annotationPrefix+k] = v
	}
	_, err = r.client.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithSnapshotter(r.snapshotter),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(specOpts...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		return "", fmt.Errorf("containerd runtime: create container %q: %w", cfg.Metadata.Name, err)
	}
	r.log.Debug("container created", "container", id, "sandbox", sandboxID, "name", cfg.Metadata.Name, "attempt", cfg.Metadata.Attempt)
	return id, nil
}

// lockSandbox serialises the name check and creation of containers within
// one sandbox; it returns the unlock.
func (r *Runtime) lockSandbox(id string) func() {
	r.sbLocksMu.Lock()
	l := r.sbLocks[id]
	if l == nil {
		l = &sandboxLock{}
		r.sbLocks[id] = l
	}
	l.users++
	r.sbLocksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		r.sbLocksMu.Lock()
		l.users--
		if l.users == 0 {
			delete(r.sbLocks, id)
		}
		r.sbLocksMu.Unlock()
	}
}

type sandboxLock struct {
	mu    sync.Mutex
	users int
}

// loadOurs returns the containerd record of one of the runtime's containers;
// ErrNotFound for unknown ids and containers of others.
func (r *Runtime) loadOurs(ctx context.Context, id string) (containers.Container, error) {
	if !validID(id) {
		return containers.Container{}, fmt.Errorf("container %q: %w", id, runtime.ErrNotFound)
	}
	c, err := r.client.ContainerService().Get(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return containers.Container{}, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
		}
		return containers.Container{}, fmt.Errorf("container %s: %w", id, err)
	}
	if c.Labels[LabelSandboxID] == "" {
		return containers.Container{}, fmt.Errorf("container %s is not bosun's: %w", id, runtime.ErrNotFound)
	}
	return c, nil
}

// StartContainer creates the container's task, with its output copied to
// the log file, and starts it.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	ctx = r.withNS(ctx)
	rec, err := r.loadOurs(ctx, id)
	if err != nil {
		return fmt.Errorf("containerd runtime: start %w", err)
	}
	if rec.Labels[LabelStartedAt] != "" || rec.Labels[LabelFinishedAt] != "" {
		return fmt.Errorf("containerd runtime: start container %s: it was started before: %w", id, runtime.ErrInvalidState)
	}
	sb, err := r.readSandbox(rec.Labels[LabelSandboxID])
	if err != nil {
		return fmt.Errorf("containerd runtime: start container %s: %w", id, err)
	}
	if sb.State != runtime.SandboxReady {
		return fmt.Errorf("containerd runtime: start container %s: sandbox %s is not ready: %w", id, sb.ID, runtime.ErrInvalidState)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("containerd runtime: start container %s: %w", id, err)
	}
	task, err := c.NewTask(ctx, r.ioCreator(id, rec.Labels[LabelLogPath]))
	if err != nil {
		if tio := r.untrackIO(id); tio != nil {
			tio.Close()
		}
		if errdefs.IsAlreadyExists(err) {
			// containerd (or the agent) died while the task was being
			// created: containerd keeps state of a task that it no longer
			// reports, and refuses a new one. The container can never
			// start: remove it, so that the next sync of its pod creates
			// a new one (another ID), as kubelet replaces a container
			// that failed to start.
			if rerr := r.RemoveContainer(ctx, id); rerr != nil {
				r.log.Warn("removing a container whose task containerd kept from before a crash", "container", id, "err", rerr)
			}
			return fmt.Errorf("containerd runtime: start container %s: containerd holds a task of it from before a crash; removed the container, a new one will be created: %w", id, runtime.ErrInvalidState)
		}
		return fmt.Errorf("containerd runtime: start container %s: %w", id, err)
	}
	// The start time is taken before the process starts, so that a process
	// that exits at once never finishes before it started.
	startedAt := r.now()
	if err := task.Start(ctx); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, derr := task.Delete(dctx, containerd.WithProcessKill); derr != nil {
			r.log.Error("deleting a task that failed to start", "container", id, "err", derr)
		}
		if tio := r.untrackIO(id); tio != nil {
			tio.Close()
		}
		return fmt.Errorf("containerd runtime: start container %s: %w", id, err)
	}
	if _, err := c.SetLabels(ctx, map[string]string{LabelStartedAt: startedAt.UTC().Format(time.RFC3339Nano)}); err != nil {
		return fmt.Errorf("containerd runtime: start container %s: record start: %w", id, err)
	}
	r.log.Debug("container started", "container", id, "pid", task.Pid())
	return nil
}

// StopContainer sends SIGTERM, waits up to timeout, then SIGKILL, and
// records the exit. A created container that never ran becomes Exited
// ("Completed") without running.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	ctx = r.withNS(ctx)
	rec, err := r.loadOurs(ctx, id)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("containerd runtime: stop %w", err)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("containerd runtime: stop container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		if !errdefs.IsNotFound(err) {
			return fmt.Errorf("containerd runtime: stop container %s: %w", id, err)
		}
		if rec.Labels[LabelFinishedAt] != "" {
			return nil
		}
		// Never started: it ends without running, as the fake's do.
		code, reason := int32(0), "Completed"
		if rec.Labels[LabelStartedAt] != "" {
			code, reason = 255, "Error"
		}
		return r.recordExit(ctx, c, code, r.now(), reason, "")
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("containerd runtime: stop container %s: %w", id, err)
	}
	if st.Status != containerd.Stopped {
		exitCh, err := task.Wait(ctx)
		if err != nil {
			return fmt.Errorf("containerd runtime: stop container %s: %w", id, err)
		}
		if err := r.terminate(ctx, task, exitCh, timeout); err != nil {
			return fmt.Errorf("containerd runtime: stop container %s: %w", id, err)
		}
		if st, err = task.Status(ctx); err != nil {
			return fmt.Errorf("containerd runtime: stop container %s: %w", id, err)
		}
	}
	if rec.Labels[LabelFinishedAt] != "" {
		return nil
	}
	return r.recordTaskExit(ctx, c, int32(st.ExitStatus), st.ExitTime)
}

// terminate signals a running task to exit and waits for exitCh: SIGTERM
// and up to timeout, then SIGKILL.
func (r *Runtime) terminate(ctx context.Context, task containerd.Task, exitCh <-chan containerd.ExitStatus, timeout time.Duration) error {
	if timeout > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("SIGTERM: %w", err)
		}
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case <-exitCh:
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("SIGKILL: %w", err)
	}
	select {
	case <-exitCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recordTaskExit records the exit of a task, with reason OOMKilled when
// the container's memory cgroup saw an OOM kill.
func (r *Runtime) recordTaskExit(ctx context.Context, c containerd.Container, code int32, at time.Time) error {
	reason, msg := exitReason(code), ""
	if code != 0 && r.oomKilled(c.ID()) {
		reason, msg = "OOMKilled", "the container exceeded its memory limit"
	}
	return r.recordExit(ctx, c, code, at, reason, msg)
}

func exitReason(code int32) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

func (r *Runtime) recordExit(ctx context.Context, c containerd.Container, code int32, at time.Time, reason, msg string) error {
	labels := map[string]string{
		LabelFinishedAt: at.UTC().Format(time.RFC3339Nano),
		LabelExitCode:   strconv.Itoa(int(code)),
		LabelReason:     reason,
	}
	if msg != "" {
		labels[LabelMessage] = msg
	}
	if _, err := c.SetLabels(ctx, labels); err != nil {
		return fmt.Errorf("containerd runtime: container %s: record exit: %w", c.ID(), err)
	}
	return nil
}

// oomKilled reports whether the container's memory cgroup (cgroup v1 or
// v2, at the default path /<namespace>/<id>) counted an OOM kill. Best
// effort: the cgroup exists until the task is deleted.
func (r *Runtime) oomKilled(id string) bool {
	for _, f := range []struct{ path, key string }{
		{filepath.Join("/sys/fs/cgroup/memory", r.ns, id, "memory.oom_control"), "oom_kill"},
		{filepath.Join("/sys/fs/cgroup", r.ns, id, "memory.events"), "oom_kill"},
	} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, " "); ok && k == f.key && v != "0" {
				return true
			}
		}
	}
	return false
}

// RemoveContainer kills the container's task if it runs, deletes the task,
// the container and its snapshot, and stops copying its output.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.withNS(ctx)
	if _, err := r.loadOurs(ctx, id); err != nil {
		if errors.Is(err, runtime.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("containerd runtime: remove %w", err)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("containerd runtime: remove container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	switch {
	case err == nil:
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("containerd runtime: remove container %s: delete task: %w", id, err)
		}
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("containerd runtime: remove container %s: %w", id, err)
	}
	if tio := r.untrackIO(id); tio != nil {
		tio.Close()
	}
	// FIFOs of tasks this Runtime never attached to.
	if dirs, err := filepath.Glob(filepath.Join(r.dir, "fifo", "*", id+"-std*")); err == nil {
		for _, f := range dirs {
			os.RemoveAll(filepath.Dir(f))
		}
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("containerd runtime: remove container %s: %w", id, err)
	}
	r.log.Debug("container removed", "container", id)
	return nil
}

// ListContainers returns the runtime's containers matching f, in creation
// order, with their state from containerd's tasks. Exits seen for the first
// time are recorded on the container.
func (r *Runtime) ListContainers(ctx context.Context, f runtime.ContainerFilter) ([]runtime.Container, error) {
	ctx = r.withNS(ctx)
	filter := fmt.Sprintf(`labels.%q`, LabelSandboxID)
	switch {
	case f.ID != "":
		if !validID(f.ID) {
			return nil, nil
		}
		filter += fmt.Sprintf(`,id==%q`, f.ID)
	case f.SandboxID != "":
		filter = fmt.Sprintf(`labels.%q==%q`, LabelSandboxID, f.SandboxID)
	case f.PodUID != "":
		filter += fmt.Sprintf(`,labels.%q==%q`, runtime.LabelPodUID, f.PodUID)
	}
	recs, err := r.client.ContainerService().List(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: list containers: %w", err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	tasksByID, err := r.tasks(ctx)
	if err != nil {
		return nil, err
	}
	var out []runtime.Container
	for _, rec := range recs {
		c := r.container(rec, tasksByID[rec.ID])
		if pt := tasksByID[rec.ID]; pt != nil && pt.Status == tasktypes.Status_STOPPED && rec.Labels[LabelFinishedAt] == "" {
			cc, err := r.client.LoadContainer(ctx, rec.ID)
			if err == nil {
				err = r.recordTaskExit(ctx, cc, c.ExitCode, c.FinishedAt)
			}
			if err != nil {
				r.log.Warn("recording a container's exit", "container", rec.ID, "err", err)
			} else if cc != nil {
				if l, err := cc.Labels(ctx); err == nil {
					c.Reason, c.Message = l[LabelReason], l[LabelMessage]
				}
			}
		}
		if f.Matches(c) {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// tasks returns the namespace's init processes by container id.
func (r *Runtime) tasks(ctx context.Context) (map[string]*tasktypes.Process, error) {
	resp, err := r.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: list tasks: %w", errgrpc.ToNative(err))
	}
	out := make(map[string]*tasktypes.Process, len(resp.Tasks))
	for _, t := range resp.Tasks {
		out[t.ID] = t
	}
	return out, nil
}

// container builds a runtime.Container from a containerd record and its
// init process (nil when it has no task).
func (r *Runtime) container(rec containers.Container, pt *tasktypes.Process) runtime.Container {
	l := rec.Labels
	attempt, _ := strconv.ParseUint(l[runtime.LabelAttempt], 10, 32)
	c := runtime.Container{
		ID:        rec.ID,
		SandboxID: l[LabelSandboxID],
		Metadata:  runtime.ContainerMetadata{Name: l[runtime.LabelContainerName], Attempt: uint32(attempt)},
		PodUID:    l[runtime.LabelPodUID],
		Image:     l[LabelImage],
		ImageRef:  l[LabelImageRef],
		CreatedAt: rec.CreatedAt,
		StartedAt: parseTime(l[LabelStartedAt]),
		Reason:    l[LabelReason],
		Message:   l[LabelMessage],
	}
	for k, v := range l {
		if name, ok := strings.CutPrefix(k, userLabelPrefix); ok {
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			c.Labels[name] = v
		} else if name, ok := strings.CutPrefix(k, annotationPrefix); ok {
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[name] = v
		}
	}
	recorded := func() {
		c.State = runtime.ContainerExited
		c.FinishedAt = parseTime(l[LabelFinishedAt])
		code, _ := strconv.ParseInt(l[LabelExitCode], 10, 32)
		c.ExitCode = int32(code)
	}
	switch {
	case pt == nil && l[LabelFinishedAt] != "":
		recorded()
	case pt == nil && l[LabelStartedAt] != "":
		// Started, but containerd lost the task (its shim died).
		c.State, c.ExitCode, c.Reason = runtime.ContainerExited, 255, "Error"
		c.Message = "the container's task disappeared"
	case pt == nil:
		c.State = runtime.ContainerCreated
	case l[LabelFinishedAt] != "":
		recorded()
	default:
		switch pt.Status {
		case tasktypes.Status_CREATED:
			c.State = runtime.ContainerCreated
		case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
			c.State = runtime.ContainerRunning
		case tasktypes.Status_STOPPED:
			c.State = runtime.ContainerExited
			c.ExitCode = int32(pt.ExitStatus)
			if pt.ExitedAt != nil {
				c.FinishedAt = pt.ExitedAt.AsTime()
			}
			if c.Reason == "" {
				c.Reason = exitReason(c.ExitCode)
			}
		default:
			c.State = runtime.ContainerUnknown
		}
	}
	return c
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// adopt re-attaches the log files of the running tasks of an earlier
// Runtime.
func (r *Runtime) adopt(ctx context.Context) error {
	ctx = r.withNS(ctx)
	recs, err := r.client.ContainerService().List(ctx, fmt.Sprintf(`labels.%q`, LabelSandboxID))
	if err != nil {
		return fmt.Errorf("containerd runtime: adopt: %w", err)
	}
	ts, err := r.tasks(ctx)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		pt := ts[rec.ID]
		if pt == nil || pt.Status != tasktypes.Status_RUNNING || r.hasIO(rec.ID) {
			continue
		}
		c, err := r.client.LoadContainer(ctx, rec.ID)
		if err == nil {
			_, err = c.Task(ctx, r.ioAttach(rec.ID, rec.Labels[LabelLogPath]))
		}
		if err != nil {
			r.log.Warn("re-attaching a container's log", "container", rec.ID, "err", err)
			continue
		}
		r.log.Debug("container adopted", "container", rec.ID, "pid", pt.Pid)
	}
	return nil
}
