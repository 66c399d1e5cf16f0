package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// defaultGracePeriod is the stop timeout of containers whose pod says none.
const defaultGracePeriod = 30 * time.Second

// waitingState is why a container waits, for its status.
type waitingState struct {
	reason, message string
}

// syncPod converges the runtime state of one pod (by UID) on its spec and
// writes its status. It returns when to look again (0: on the next event).
func (a *Agent) syncPod(ctx context.Context, uid string) (time.Duration, error) {
	if key, ok := strings.CutPrefix(uid, mirrorKeyPrefix); ok {
		return 0, a.syncMirror(ctx, key)
	}
	a.mu.Lock()
	pod, last, synced := a.cache[uid], a.gone[uid], a.synced
	static := false
	if pod == nil && a.static[uid] != nil {
		pod, static = a.static[uid], true
	}
	staticLast := a.staticGone[uid]
	a.mu.Unlock()
	if pod == nil {
		if staticLast != nil { // a static pod's file changed or went away: no need to wait for the API
			return 0, a.killPod(ctx, uid, staticLast)
		}
		if !synced {
			return 0, nil // not yet listed: the pod may exist; never kill before the first list
		}
		if wait := a.drainWait(uid, last); wait > 0 {
			return wait, nil
		}
		return 0, a.killPod(ctx, uid, last)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		if static { // keep its mirror current
			if _, err := a.writeStaticStatus(ctx, pod, pod.Status); err != nil {
				return 0, errors.Join(err, a.stopTerminal(ctx, uid, pod))
			}
		}
		return 0, a.stopTerminal(ctx, uid, pod)
	}

	sandboxes, err := a.rt.ListPodSandboxes(ctx, runtime.SandboxFilter{PodUID: uid})
	if err != nil {
		return 0, fmt.Errorf("nodeagent: pod %s: list sandboxes: %w", podRef(pod), err)
	}
	var sb *runtime.Sandbox
	for i := range sandboxes {
		if sandboxes[i].State == runtime.SandboxReady {
			sb = &sandboxes[i] // the newest ready one
		}
	}
	for i := range sandboxes { // stale sandboxes: a newer one, or not ready while one is
		s := &sandboxes[i]
		if s != sb && sb != nil {
			if err := a.rt.RemovePodSandbox(ctx, s.ID); err != nil {
				return 0, fmt.Errorf("nodeagent: pod %s: remove stale sandbox %s: %w", podRef(pod), s.ID, err)
			}
		}
	}
	if sb == nil {
		for _, s := range sandboxes {
			if err := a.rt.RemovePodSandbox(ctx, s.ID); err != nil {
				return 0, fmt.Errorf("nodeagent: pod %s: remove dead sandbox %s: %w", podRef(pod), s.ID, err)
			}
		}
		created, err := a.rt.RunPodSandbox(ctx, a.sandboxConfig(pod, uint32(len(sandboxes))))
		if err != nil {
			return 0, fmt.Errorf("nodeagent: pod %s: run sandbox: %w", podRef(pod), err)
		}
		a.log.Debug("pod sandbox started", "pod", podRef(pod), "sandbox", created.ID, "ip", created.IP)
		sb = &created
	}

	containers, err := a.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sb.ID})
	if err != nil {
		return 0, fmt.Errorf("nodeagent: pod %s: list containers: %w", podRef(pod), err)
	}
	waiting := map[string]waitingState{}
	var requeue time.Duration
	var errs []error
	setup := &podSetup{objs: a.newPodObjects(pod.Namespace)}
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		after, err := a.syncContainer(ctx, pod, sb, spec, containers, waiting, setup)
		if err != nil {
			errs = append(errs, err)
		}
		if after > 0 && (requeue == 0 || after < requeue) {
			requeue = after
		}
	}

	// Status from the runtime's state after acting.
	containers, err = a.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sb.ID})
	if err != nil {
		return 0, fmt.Errorf("nodeagent: pod %s: list containers: %w", podRef(pod), err)
	}
	if a.probes != nil {
		var running []string
		for _, c := range containers {
			if c.State == runtime.ContainerRunning {
				running = append(running, c.ID)
			}
		}
		a.probes.Retain(uid, running)
	}
	status := a.podStatus(pod, sb, containers, waiting)
	write := a.writeStatus
	if static {
		write = a.writeStaticStatus
	}
	written, err := write(ctx, pod, status)
	if err != nil {
		errs = append(errs, err)
	}
	if (err == nil || static) && (status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed) {
		if err := a.stopTerminal(ctx, uid, written); err != nil {
			errs = append(errs, err)
		}
	}
	return requeue, errors.Join(errs...)
}

// latestTwo returns the newest and the previous instance of a container
// by attempt, and the older ones.
func latestTwo(cs []runtime.Container, name string) (latest, prev *runtime.Container, older []runtime.Container) {
	var mine []runtime.Container
	for _, c := range cs {
		if c.Metadata.Name == name {
			mine = append(mine, c)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Metadata.Attempt > mine[j].Metadata.Attempt })
	if len(mine) > 0 {
		latest = &mine[0]
	}
	if len(mine) > 1 {
		prev = &mine[1]
	}
	if len(mine) > 2 {
		older = mine[2:]
	}
	return latest, prev, older
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	default:
		return true
	}
}

// syncContainer brings one container of the pod to what its spec and the
// restart policy want.
func (a *Agent) syncContainer(ctx context.Context, pod *corev1.Pod, sb *runtime.Sandbox, spec *corev1.Container,
	cs []runtime.Container, waiting map[string]waitingState, setup *podSetup) (time.Duration, error) {
	uid := string(pod.UID)
	latest, _, older := latestTwo(cs, spec.Name)
	for _, c := range older { // keep the latest two: the current one and the one lastState reports
		if err := a.rt.RemoveContainer(ctx, c.ID); err != nil {
			return 0, fmt.Errorf("nodeagent: pod %s: remove old container %s: %w", podRef(pod), spec.Name, err)
		}
	}
	attempt := uint32(0)
	switch {
	case latest == nil:
	case latest.State == runtime.ContainerCreated:
		return 0, a.startContainer(ctx, pod, spec, latest.ID)
	case latest.State == runtime.ContainerRunning:
		if res := a.prober.Probe(pod, sb.IP, spec, *latest); res.Unhealthy {
			a.log.Info("container is unhealthy; restarting it", "pod", podRef(pod), "container", spec.Name, "reason", res.Message)
			if err := a.rt.StopContainer(ctx, latest.ID, probeGracePeriod(pod, spec)); err != nil {
				return 0, fmt.Errorf("nodeagent: pod %s: stop unhealthy container %s: %w", podRef(pod), spec.Name, err)
			}
			return time.Millisecond, nil // restart on the next pass
		}
		return 0, nil
	default: // exited
		if !shouldRestart(pod.Spec.RestartPolicy, latest.ExitCode) {
			return 0, nil
		}
		rem, delay := a.back.wait(uid, spec.Name, latest.FinishedAt)
		if rem > 0 {
			waiting[spec.Name] = waitingState{reason: "CrashLoopBackOff", message: fmt.Sprintf(
				"back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, spec.Name, pod.Name, pod.Namespace, uid)}
			return rem, nil
		}
		attempt = latest.Metadata.Attempt + 1
	}

	imageRef, after, err := a.ensureImage(ctx, pod, spec, waiting)
	if err != nil || after > 0 {
		return after, err
	}
	_ = imageRef
	cfg, err := a.containerConfig(ctx, pod, spec, attempt, sb, setup)
	if msg, ok := isConfigError(err); ok {
		waiting[spec.Name] = waitingState{reason: "CreateContainerConfigError", message: msg}
		a.log.Warn("container cannot be created: fix its pod spec or the objects it refers to", "pod", podRef(pod),
			"container", spec.Name, "error", msg)
		return a.cfg.Backoff.Initial, nil
	}
	if err != nil {
		return 0, err
	}
	if latest != nil {
		a.back.next(uid, spec.Name, latest.FinishedAt)
	}
	id, err := a.rt.CreateContainer(ctx, sb.ID, cfg)
	if err != nil {
		return 0, fmt.Errorf("nodeagent: pod %s: create container %s: %w", podRef(pod), spec.Name, err)
	}
	return 0, a.startContainer(ctx, pod, spec, id)
}

func (a *Agent) startContainer(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, id string) error {
	if err := a.rt.StartContainer(ctx, id); err != nil {
		return fmt.Errorf("nodeagent: pod %s: start container %s: %w", podRef(pod), spec.Name, err)
	}
	a.log.Debug("container started", "pod", podRef(pod), "container", spec.Name, "id", id)
	return nil
}

// ensureImage makes the container's image present per imagePullPolicy. A
// failed pull sets the container waiting (ErrImagePull, then
// ImagePullBackOff while the back-off lasts) and asks to look again later.
func (a *Agent) ensureImage(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, waiting map[string]waitingState) (string, time.Duration, error) {
	uid, key := string(pod.UID), "image/"+spec.Name
	policy := spec.ImagePullPolicy
	if policy == "" {
		policy = corev1.PullIfNotPresent
		if strings.HasSuffix(spec.Image, ":latest") || !strings.Contains(lastSegment(spec.Image), ":") {
			policy = corev1.PullAlways
		}
	}
	if policy != corev1.PullAlways {
		img, err := a.rt.ImageStatus(ctx, spec.Image)
		switch {
		case err == nil:
			return img.ID, 0, nil
		case !errors.Is(err, runtime.ErrNotFound):
			return "", 0, fmt.Errorf("nodeagent: pod %s: image status of %s: %w", podRef(pod), spec.Image, err)
		case policy == corev1.PullNever:
			waiting[spec.Name] = waitingState{reason: "ErrImageNeverPull",
				message: fmt.Sprintf("Container image %q is not present with pull policy of Never", spec.Image)}
			return "", 0, nil
		}
	}
	if rem, msg := a.back.pending(uid, key); rem > 0 {
		waiting[spec.Name] = waitingState{reason: "ImagePullBackOff", message: msg}
		return "", rem, nil
	}
	ref, err := a.rt.PullImage(ctx, spec.Image)
	if err != nil {
		msg := fmt.Sprintf("Failed to pull image %q: %v", spec.Image, err)
		a.back.failed(uid, key, msg)
		waiting[spec.Name] = waitingState{reason: "ErrImagePull", message: msg}
		a.log.Warn("image pull failed", "pod", podRef(pod), "image", spec.Image, "error", err)
		rem, _ := a.back.pending(uid, key)
		return "", max(rem, time.Millisecond), nil
	}
	a.back.clear(uid, key)
	return ref, 0, nil
}

func lastSegment(image string) string {
	if i := strings.LastIndex(image, "/"); i >= 0 {
		return image[i+1:]
	}
	return image
}

func gracePeriod(pod *corev1.Pod) time.Duration {
	if pod != nil && pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return defaultGracePeriod
}

func podRef(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (a *Agent) sandboxConfig(pod *corev1.Pod, attempt uint32) runtime.SandboxConfig {
	a.mu.Lock()
	cidr := a.podCIDR
	a.mu.Unlock()
	cfg := runtime.SandboxConfig{
		Metadata: runtime.SandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID), Attempt: attempt},
		Hostname: pod.Name,
		PodCIDR:  cidr,
		Labels: map[string]string{
			runtime.LabelPodUID: string(pod.UID), runtime.LabelPodName: pod.Name, runtime.LabelPodNamespace: pod.Namespace,
			runtime.LabelSandboxAttempt: strconv.FormatUint(uint64(attempt), 10),
		},
	}
	if pod.Spec.Hostname != "" {
		cfg.Hostname = pod.Spec.Hostname
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				proto := string(p.Protocol)
				if proto == "" {
					proto = "TCP"
				}
				cfg.PortMappings = append(cfg.PortMappings, runtime.PortMapping{
					Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIP: p.HostIP})
			}
		}
	}
	return cfg
}

// podSetup is what one pod sync prepares once for all its containers:
// the API objects read, and the volumes.
type podSetup struct {
	objs    *podObjects
	vols    map[string]volume
	volErr  error
	volDone bool
}

// Annotations of a container config carrying what runtime.ContainerConfig
// has no field for; the runtime applies them (see package runtime).
const (
	AnnotationRunAsUser      = runtime.AnnotationRunAsUser
	AnnotationRunAsGroup     = runtime.AnnotationRunAsGroup
	AnnotationReadOnlyRootfs = runtime.AnnotationReadOnlyRootfs
)

// containerConfig turns a container spec into the runtime's config: the
// environment (valueFrom, envFrom, $(VAR) expansion), command and args
// (expanded too; the runtime applies the image's defaults), volumes
// mounted per volumeMounts, limits and the security context. Problems the
// pod's owner must fix are configErrors.
func (a *Agent) containerConfig(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, attempt uint32,
	sb *runtime.Sandbox, setup *podSetup) (runtime.ContainerConfig, error) {
	cfg := runtime.ContainerConfig{
		Metadata:   runtime.ContainerMetadata{Name: spec.Name, Attempt: attempt},
		Image:      spec.Image,
		WorkingDir: spec.WorkingDir,
		Labels: map[string]string{
			runtime.LabelPodUID: string(pod.UID), runtime.LabelPodName: pod.Name, runtime.LabelPodNamespace: pod.Namespace,
			runtime.LabelContainerName: spec.Name, runtime.LabelAttempt: strconv.FormatUint(uint64(attempt), 10),
		},
	}
	env, err := a.makeEnv(ctx, pod, spec, sb.IP, setup.objs)
	if err != nil {
		return cfg, err
	}
	cfg.Env = env.keyValues()
	for _, c := range spec.Command {
		cfg.Command = append(cfg.Command, expand(c, env.get))
	}
	for _, c := range spec.Args {
		cfg.Args = append(cfg.Args, expand(c, env.get))
	}
	if !setup.volDone {
		setup.vols, setup.volErr = a.setupVolumes(ctx, pod, setup.objs)
		setup.volDone = true
	}
	if setup.volErr != nil {
		return cfg, setup.volErr
	}
	if cfg.Mounts, err = containerMounts(spec, setup.vols, env); err != nil {
		return cfg, err
	}
	if q, ok := spec.Resources.Limits[corev1.ResourceCPU]; ok {
		cfg.Resources.CPUMillis = q.MilliValue()
	}
	if q, ok := spec.Resources.Limits[corev1.ResourceMemory]; ok {
		cfg.Resources.MemoryBytes = q.Value()
	}
	var user, group *int64
	if psc := pod.Spec.SecurityContext; psc != nil {
		user, group = psc.RunAsUser, psc.RunAsGroup
	}
	if sc := spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			user = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			group = sc.RunAsGroup
		}
		if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
			cfg.Annotations = map[string]string{AnnotationReadOnlyRootfs: "true"}
		}
	}
	if user != nil || group != nil {
		if cfg.Annotations == nil {
			cfg.Annotations = map[string]string{}
		}
		if user != nil {
			cfg.Annotations[AnnotationRunAsUser] = strconv.FormatInt(*user, 10)
		}
		if group != nil {
			cfg.Annotations[AnnotationRunAsGroup] = strconv.FormatInt(*group, 10)
		}
	}
	return cfg, nil
}

// probeGracePeriod is how long a container killed for a failed probe gets:
// the probe's terminationGracePeriodSeconds, else the pod's.
func probeGracePeriod(pod *corev1.Pod, spec *corev1.Container) time.Duration {
	for _, p := range []*corev1.Probe{spec.LivenessProbe, spec.StartupProbe} {
		if p != nil && p.TerminationGracePeriodSeconds != nil {
			return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
		}
	}
	return gracePeriod(pod)
}

// drainWait returns how much longer the containers of a pod deleted from
// the API keep running (Config.DrainDelay), counted from when the agent
// first saw it gone.
func (a *Agent) drainWait(uid string, last *corev1.Pod) time.Duration {
	if last == nil || a.cfg.DrainDelay <= 0 {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.goneAt[uid]
	if !ok {
		at = a.clk.Now()
		a.goneAt[uid] = at
	}
	return a.cfg.DrainDelay - a.clk.Since(at)
}

// killPod stops and removes everything of a pod the API no longer has.
func (a *Agent) killPod(ctx context.Context, uid string, last *corev1.Pod) error {
	cs, err := a.rt.ListContainers(ctx, runtime.ContainerFilter{PodUID: uid})
	if err != nil {
		return fmt.Errorf("nodeagent: pod %s: list containers: %w", uid, err)
	}
	for _, c := range cs {
		if c.State == runtime.ContainerRunning {
			if err := a.rt.StopContainer(ctx, c.ID, gracePeriod(last)); err != nil {
				return fmt.Errorf("nodeagent: pod %s: stop container %s: %w", uid, c.Metadata.Name, err)
			}
		}
	}
	sbs, err := a.rt.ListPodSandboxes(ctx, runtime.SandboxFilter{PodUID: uid})
	if err != nil {
		return fmt.Errorf("nodeagent: pod %s: list sandboxes: %w", uid, err)
	}
	for _, s := range sbs {
		if err := a.rt.RemovePodSandbox(ctx, s.ID); err != nil {
			return fmt.Errorf("nodeagent: pod %s: remove sandbox %s: %w", uid, s.ID, err)
		}
	}
	for _, c := range cs { // containers whose sandbox was already gone
		if err := a.rt.RemoveContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("nodeagent: pod %s: remove container %s: %w", uid, c.ID, err)
		}
	}
	what := "orphan"
	if last != nil {
		what = podRef(last)
	}
	if len(cs) > 0 || len(sbs) > 0 {
		a.log.Info("pod gone from the API; its containers are removed", "pod", what, "podUID", uid,
			"containers", len(cs), "sandboxes", len(sbs))
	}
	if a.probes != nil {
		a.probes.ForgetPod(uid)
	}
	if err := a.removePodDir(uid); err != nil {
		return err
	}
	a.back.forget(uid)
	a.mu.Lock()
	delete(a.goneAt, uid)
	if _, back := a.cache[uid]; !back {
		delete(a.gone, uid)
	}
	if _, back := a.static[uid]; !back {
		delete(a.staticGone, uid)
	}
	a.mu.Unlock()
	return nil
}

// stopTerminal stops what still runs of a Succeeded or Failed pod and its
// sandbox, keeping the containers for their status.
func (a *Agent) stopTerminal(ctx context.Context, uid string, pod *corev1.Pod) error {
	sbs, err := a.rt.ListPodSandboxes(ctx, runtime.SandboxFilter{PodUID: uid, State: runtime.SandboxReady})
	if err != nil {
		return fmt.Errorf("nodeagent: pod %s: list sandboxes: %w", podRef(pod), err)
	}
	for _, s := range sbs {
		cs, err := a.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: s.ID, State: runtime.ContainerRunning})
		if err != nil {
			return fmt.Errorf("nodeagent: pod %s: list containers: %w", podRef(pod), err)
		}
		for _, c := range cs {
			if err := a.rt.StopContainer(ctx, c.ID, gracePeriod(pod)); err != nil {
				return fmt.Errorf("nodeagent: pod %s: stop container %s: %w", podRef(pod), c.Metadata.Name, err)
			}
		}
		if err := a.rt.StopPodSandbox(ctx, s.ID); err != nil {
			return fmt.Errorf("nodeagent: pod %s: stop sandbox: %w", podRef(pod), err)
		}
	}
	return nil
}
