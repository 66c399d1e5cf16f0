package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/nodeagent/podenv"
	"github.com/bosun-dev/bosun/nodeagent/podmanager"
	"github.com/bosun-dev/bosun/nodeagent/podworkers"
	"github.com/bosun-dev/bosun/nodeagent/probe"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/status"
	"github.com/bosun-dev/bosun/nodeagent/volumes"
)

// defaultGracePeriod is the stop timeout of containers whose pod says none.
const defaultGracePeriod = 30 * time.Second

func terminal(phase corev1.PodPhase) bool {
	return phase == corev1.PodSucceeded || phase == corev1.PodFailed
}

// waitingState is why a container waits, for its status.
type waitingState struct {
	reason, message string
}

// podSyncer converges the runtime on the desired pods, one pod per call
// (the pod workers' SyncFunc), as kubelet's syncPod does: sandbox and
// containers from the pod manager's pod, with back-offs, probes, the
// environment (package podenv) and volumes (package volumes); the status
// it computes goes to the status manager, and a static pod's to its mirror
// pod. It keeps no state of its own but the back-offs.
type podSyncer struct {
	hostIP      string
	runtimeName string        // set by Run before the first sync
	configRetry time.Duration // how soon a CreateContainerConfigError is retried

	log      *slog.Logger
	clk      clock.Clock
	rt       runtime.Runtime
	c        *client.Client
	pods     *podmanager.Manager
	status   *status.Manager
	node     *nodeReporter
	prober   Prober
	hooks    *probe.Checker // runs postStart and preStop hooks
	probes   *probe.Manager // nil unless RunProbes
	back     *backoffs
	env      *podenv.Resolver
	vols     *volumes.Manager
	services *serviceLister
	dns      PodDNS           // nil: the runtime copies the host's resolv.conf
	domain   string           // the cluster domain, for pods' FQDN in /etc/hosts
	notify   func(key string) // asks the pod workers for a sync of key
	rec      *events.Recorder // the kubelet's Events; nil records none
	metrics  *agentMetrics    // nil without Config.Metrics
}

// sync is the pod workers' SyncFunc: key is a pod UID, or a mirror pod's
// podmanager.MirrorKey.
func (s *podSyncer) sync(ctx context.Context, key string) (podworkers.Result, error) {
	if objKey, ok := podmanager.ParseMirrorKey(key); ok {
		return podworkers.Result{Done: true}, s.syncMirror(ctx, objKey)
	}
	d := s.pods.Get(key)
	if d.Pod == nil {
		after, err := s.syncGone(ctx, key, d)
		return podworkers.Result{RequeueAfter: after, Done: after == 0}, err
	}
	if d.Pod.DeletionTimestamp != nil && !d.Static {
		return podworkers.Result{}, s.terminatePod(ctx, d.Pod)
	}
	after, err := s.syncPod(ctx, d.Pod, d.Static)
	return podworkers.Result{RequeueAfter: after}, err
}

// syncGone tears down a pod the node should not run (any more), once the
// API's pods are listed: a pod deleted gracefully has stopped already; one
// removed at once (force-deleted) is killed with its spec's grace period.
func (s *podSyncer) syncGone(ctx context.Context, uid string, d podmanager.Desired) (time.Duration, error) {
	if d.StaticGone != nil { // a static pod's file changed or went away: no need to wait for the API
		return 0, s.killPod(ctx, uid, d.StaticGone)
	}
	if !d.Synced {
		return 0, nil // not yet listed: the pod may exist; never kill before the first list
	}
	return 0, s.killPod(ctx, uid, d.Gone)
}

// syncPod converges the runtime state of a pod to run on its spec and
// hands its status on. It returns when to look again (0: on the next event).
func (s *podSyncer) syncPod(ctx context.Context, pod *corev1.Pod, static bool) (time.Duration, error) {
	uid := string(pod.UID)
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		if static { // keep its mirror current
			if err := s.mirrorStatus(ctx, pod, pod.Status); err != nil {
				return 0, errors.Join(err, s.stopTerminal(ctx, uid, pod))
			}
		}
		return 0, s.stopTerminal(ctx, uid, pod)
	}

	sandboxes, err := s.rt.ListPodSandboxes(ctx, runtime.SandboxFilter{PodUID: uid})
	if err != nil {
		return 0, fmt.Errorf("nodeagent: pod %s: list sandboxes: %w", podRef(pod), err)
	}
	var sb *runtime.Sandbox
	for i := range sandboxes {
		if sandboxes[i].State == runtime.SandboxReady {
			sb = &sandboxes[i] // the newest ready one
		}
	}
	s.metrics.seen(uid, sb != nil, s.clk.Now())
	for i := range sandboxes { // stale sandboxes: a newer one, or not ready while one is
		sbx := &sandboxes[i]
		if sbx != sb && sb != nil {
			if err := s.rt.RemovePodSandbox(ctx, sbx.ID); err != nil {
				return 0, fmt.Errorf("nodeagent: pod %s: remove stale sandbox %s: %w", podRef(pod), sbx.ID, err)
			}
		}
	}
	if sb == nil {
		for _, sbx := range sandboxes {
			if err := s.rt.RemovePodSandbox(ctx, sbx.ID); err != nil {
				return 0, fmt.Errorf("nodeagent: pod %s: remove dead sandbox %s: %w", podRef(pod), sbx.ID, err)
			}
		}
		cfg := s.sandboxConfig(pod, uint32(len(sandboxes)))
		if s.dns != nil {
			if cfg.DNS, err = s.dns.PodDNS(pod); err != nil {
				return 0, fmt.Errorf("nodeagent: pod %s: resolv.conf: %w", podRef(pod), err)
			}
		}
		created, err := s.rt.RunPodSandbox(ctx, cfg)
		if err != nil {
			return 0, fmt.Errorf("nodeagent: pod %s: run sandbox: %w", podRef(pod), err)
		}
		s.log.Debug("pod sandbox started", "pod", podRef(pod), "sandbox", created.ID, "ip", created.IP)
		sb = &created
	}

	containers, err := s.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sb.ID})
	if err != nil {
		return 0, fmt.Errorf("nodeagent: pod %s: list containers: %w", podRef(pod), err)
	}
	waiting := map[string]waitingState{}
	var requeue time.Duration
	var errs []error
	setup := &podSetup{objs: newPodObjects(s.c, s.services, pod.Namespace)}
	initialized, requeue, err := s.syncInitContainers(ctx, pod, sb, containers, waiting, setup)
	if err != nil {
		errs = append(errs, err)
	}
	for i := range pod.Spec.Containers {
		if !initialized {
			break
		}
		spec := &pod.Spec.Containers[i]
		after, err := s.syncContainer(ctx, pod, sb, spec, pod.Spec.RestartPolicy, containers, waiting, setup)
		if err != nil {
			errs = append(errs, err)
		}
		requeue = sooner(requeue, after)
	}

	// Status from the runtime's state after acting.
	containers, err = s.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sb.ID})
	if err != nil {
		return 0, fmt.Errorf("nodeagent: pod %s: list containers: %w", podRef(pod), err)
	}
	if s.probes != nil {
		var running []string
		for _, c := range containers {
			if c.State == runtime.ContainerRunning {
				running = append(running, c.ID)
			}
		}
		s.probes.Retain(uid, running)
	}
	if static {
		status := s.podStatus(pod, sb, containers, waiting)
		if p := s.pods.SetStaticStatus(uid, status); p != nil {
			pod = p
		}
		if err := s.mirrorStatus(ctx, pod, status); err != nil {
			errs = append(errs, err)
		}
		if terminal(status.Phase) { // static pods do not wait for the API
			if err := s.stopTerminal(ctx, uid, pod); err != nil {
				errs = append(errs, err)
			}
		}
		return requeue, errors.Join(errs...)
	}
	// The status still waiting to be written is newer than the pod's.
	view := pod
	if st, ok := s.status.Pending(pod.UID); ok {
		cp := *pod
		cp.Status = st
		view = &cp
	}
	// A terminal status is written first; the sync its write triggers
	// (Config.OnWritten of the status manager, set in New) stops what still
	// runs, so that a restarted agent never runs a finished pod again.
	st := s.podStatus(view, sb, containers, waiting)
	s.metrics.synced(uid, &st, s.clk.Now())
	s.status.SetPodStatus(pod, st)
	return requeue, errors.Join(errs...)
}

// Reasons of the agent's Events, as the kubelet's.
const (
	ReasonPulling     = "Pulling"
	ReasonPulled      = "Pulled"
	ReasonCreated     = "Created"
	ReasonStarted     = "Started"
	ReasonKilling     = "Killing"
	ReasonFailed      = "Failed"
	ReasonBackOff     = "BackOff"
	ReasonFailedMount = "FailedMount"
)

// failedProbe turns a probe message ("Liveness probe failed: ...") into
// the kubelet's Killing wording ("liveness probe").
func failedProbe(message string) string {
	kind, _, ok := strings.Cut(message, " probe failed")
	if !ok {
		return "a probe"
	}
	return strings.ToLower(kind) + " probe"
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

// sooner returns the sooner of two requeue delays (0: none).
func sooner(a, b time.Duration) time.Duration {
	if b > 0 && (a == 0 || b < a) {
		return b
	}
	return a
}

// syncContainer brings one container of the pod to what its spec and
// restart policy want (the pod's for app containers; an init container's
// own, see syncInitContainers).
func (s *podSyncer) syncContainer(ctx context.Context, pod *corev1.Pod, sb *runtime.Sandbox, spec *corev1.Container,
	policy corev1.RestartPolicy, cs []runtime.Container, waiting map[string]waitingState, setup *podSetup) (time.Duration, error) {
	uid := string(pod.UID)
	latest, _, older := latestTwo(cs, spec.Name)
	for _, c := range older { // keep the latest two: the current one and the one lastState reports
		if err := s.rt.RemoveContainer(ctx, c.ID); err != nil {
			return 0, fmt.Errorf("nodeagent: pod %s: remove old container %s: %w", podRef(pod), spec.Name, err)
		}
	}
	attempt := uint32(0)
	switch {
	case latest == nil:
	case latest.State == runtime.ContainerCreated:
		return 0, s.startContainer(ctx, pod, sb, spec, latest.ID)
	case latest.State == runtime.ContainerRunning:
		if res := s.prober.Probe(pod, sb.IP, spec, *latest); res.Unhealthy {
			s.log.Info("container is unhealthy; restarting it", "pod", podRef(pod), "container", spec.Name, "reason", res.Message)
			s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeNormal, ReasonKilling,
				"Container %s failed %s, will be restarted", spec.Name, failedProbe(res.Message))
			if err := s.killContainer(ctx, pod, sb.IP, *latest, s.clk.Now().Add(probeGracePeriod(pod, spec))); err != nil {
				return 0, fmt.Errorf("nodeagent: pod %s: stop unhealthy container %s: %w", podRef(pod), spec.Name, err)
			}
			return time.Millisecond, nil // restart on the next pass
		}
		return 0, nil
	default: // exited
		if !shouldRestart(policy, latest.ExitCode) {
			return 0, nil
		}
		rem, delay := s.back.wait(uid, spec.Name, latest.FinishedAt)
		if rem > 0 {
			waiting[spec.Name] = waitingState{reason: "CrashLoopBackOff", message: fmt.Sprintf(
				"back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, spec.Name, pod.Name, pod.Namespace, uid)}
			s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeWarning, ReasonBackOff,
				"Back-off restarting failed container %s in pod %s_%s(%s)", spec.Name, pod.Name, pod.Namespace, uid)
			return rem, nil
		}
		attempt = latest.Metadata.Attempt + 1
	}

	imageRef, after, err := s.ensureImage(ctx, pod, spec, waiting)
	if err != nil || after > 0 {
		return after, err
	}
	_ = imageRef
	cfg, err := s.containerConfig(ctx, pod, spec, attempt, sb, setup)
	if msg, ok := podenv.IsConfigError(err); ok {
		waiting[spec.Name] = waitingState{reason: "CreateContainerConfigError", message: msg}
		s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeWarning, ReasonFailed, "Error: %s", msg)
		s.log.Warn("container cannot be created: fix its pod spec or the objects it refers to", "pod", podRef(pod),
			"container", spec.Name, "error", msg)
		return s.configRetry, nil
	}
	if err != nil {
		return 0, err
	}
	if latest != nil {
		s.back.next(uid, spec.Name, latest.FinishedAt)
	}
	id, err := s.rt.CreateContainer(ctx, sb.ID, cfg)
	if err != nil {
		s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeWarning, ReasonFailed, "Error: %v", err)
		return 0, fmt.Errorf("nodeagent: pod %s: create container %s: %w", podRef(pod), spec.Name, err)
	}
	s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeNormal, ReasonCreated, "Created container: %s", spec.Name)
	return 0, s.startContainer(ctx, pod, sb, spec, id)
}

// startContainer starts a created container, then runs its postStart
// hook, as kubelet does: until the hook returns the container is not
// started; a failed hook kills the container (Event FailedPostStartHook),
// which is then restarted per its restart policy.
func (s *podSyncer) startContainer(ctx context.Context, pod *corev1.Pod, sb *runtime.Sandbox, spec *corev1.Container, id string) error {
	if err := s.rt.StartContainer(ctx, id); err != nil {
		s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeWarning, ReasonFailed, "Error: %v", err)
		return fmt.Errorf("nodeagent: pod %s: start container %s: %w", podRef(pod), spec.Name, err)
	}
	s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeNormal, ReasonStarted, "Started container %s", spec.Name)
	s.log.Debug("container started", "pod", podRef(pod), "container", spec.Name, "id", id)
	if spec.Lifecycle == nil || spec.Lifecycle.PostStart == nil {
		return nil
	}
	c := runtime.Container{ID: id, PodUID: string(pod.UID), Metadata: runtime.ContainerMetadata{Name: spec.Name}}
	err := s.runHook(ctx, pod, sb.IP, spec, c, spec.Lifecycle.PostStart, time.Time{})
	if err == nil {
		return nil
	}
	s.log.Warn("postStart hook failed; the container is killed", "pod", podRef(pod), "container", spec.Name, "error", err)
	s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeWarning, ReasonFailedPostStartHook, "PostStartHook failed: %v", err)
	if err := s.rt.StopContainer(ctx, id, gracePeriod(pod)); err != nil {
		return fmt.Errorf("nodeagent: pod %s: stop container %s after its postStart hook failed: %w", podRef(pod), spec.Name, err)
	}
	return nil
}

// ensureImage makes the container's image present per imagePullPolicy. A
// failed pull sets the container waiting (ErrImagePull, then
// ImagePullBackOff while the back-off lasts) and asks to look again later.
func (s *podSyncer) ensureImage(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, waiting map[string]waitingState) (string, time.Duration, error) {
	uid, key := string(pod.UID), "image/"+spec.Name
	policy := spec.ImagePullPolicy
	if policy == "" {
		policy = corev1.PullIfNotPresent
		if strings.HasSuffix(spec.Image, ":latest") || !strings.Contains(lastSegment(spec.Image), ":") {
			policy = corev1.PullAlways
		}
	}
	if policy != corev1.PullAlways {
		img, err := s.rt.ImageStatus(ctx, spec.Image)
		switch {
		case err == nil:
			s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeNormal, ReasonPulled,
				"Container image %q already present on machine", spec.Image)
			return img.ID, 0, nil
		case !errors.Is(err, runtime.ErrNotFound):
			return "", 0, fmt.Errorf("nodeagent: pod %s: image status of %s: %w", podRef(pod), spec.Image, err)
		case policy == corev1.PullNever:
			waiting[spec.Name] = waitingState{reason: "ErrImageNeverPull",
				message: fmt.Sprintf("Container image %q is not present with pull policy of Never", spec.Image)}
			s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeWarning, "ErrImageNeverPull",
				"Container image %q is not present with pull policy of Never", spec.Image)
			return "", 0, nil
		}
	}
	if rem, msg := s.back.pending(uid, key); rem > 0 {
		waiting[spec.Name] = waitingState{reason: "ImagePullBackOff", message: msg}
		s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeNormal, ReasonBackOff, "Back-off pulling image %q", spec.Image)
		return "", rem, nil
	}
	s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeNormal, ReasonPulling, "Pulling image %q", spec.Image)
	began := s.clk.Now()
	ref, err := s.rt.PullImage(ctx, spec.Image)
	if err != nil {
		msg := fmt.Sprintf("Failed to pull image %q: %v", spec.Image, err)
		s.rec.Event(events.ContainerRef(pod, spec.Name), corev1.EventTypeWarning, ReasonFailed, msg)
		s.back.failed(uid, key, msg)
		waiting[spec.Name] = waitingState{reason: "ErrImagePull", message: msg}
		s.log.Warn("image pull failed", "pod", podRef(pod), "image", spec.Image, "error", err)
		rem, _ := s.back.pending(uid, key)
		return "", max(rem, time.Millisecond), nil
	}
	s.back.clear(uid, key)
	s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeNormal, ReasonPulled,
		"Successfully pulled image %q in %s", spec.Image, s.clk.Since(began).Round(time.Millisecond))
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

func (s *podSyncer) sandboxConfig(pod *corev1.Pod, attempt uint32) runtime.SandboxConfig {
	cidr := s.node.PodCIDR()
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
	if pod.Spec.Subdomain != "" && s.domain != "" {
		cfg.HostnameFQDN = cfg.Hostname + "." + pod.Spec.Subdomain + "." + pod.Namespace + ".svc." + s.domain
	}
	for _, a := range pod.Spec.HostAliases {
		cfg.HostAliases = append(cfg.HostAliases, runtime.HostAlias{IP: a.IP, Hostnames: slices.Clone(a.Hostnames)})
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
	vols    map[string]volumes.Volume
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
// pod's owner must fix are *podenv.ConfigErrors.
func (s *podSyncer) containerConfig(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, attempt uint32,
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
	env, err := s.env.Env(ctx, pod, spec, sb.IP, setup.objs)
	if err != nil {
		return cfg, err
	}
	cfg.Env = env.KeyValues()
	for _, c := range spec.Command {
		cfg.Command = append(cfg.Command, podenv.Expand(c, env.Get))
	}
	for _, c := range spec.Args {
		cfg.Args = append(cfg.Args, podenv.Expand(c, env.Get))
	}
	if !setup.volDone {
		setup.vols, setup.volErr = s.vols.Setup(ctx, pod, setup.objs)
		setup.volDone = true
		if setup.volErr != nil {
			s.rec.Eventf(events.Ref(pod), corev1.EventTypeWarning, ReasonFailedMount, "MountVolume.SetUp failed: %v", setup.volErr)
		}
	}
	if setup.volErr != nil {
		return cfg, setup.volErr
	}
	if cfg.Mounts, err = volumes.Mounts(spec, setup.vols, env.Get); err != nil {
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

// killPod stops and removes everything of a pod the API no longer has:
// what still runs is killed with the grace period of the pod's spec
// (preStop hooks first).
func (s *podSyncer) killPod(ctx context.Context, uid string, last *corev1.Pod) error {
	cs, err := s.rt.ListContainers(ctx, runtime.ContainerFilter{PodUID: uid})
	if err != nil {
		return fmt.Errorf("nodeagent: pod %s: list containers: %w", uid, err)
	}
	sbs, err := s.rt.ListPodSandboxes(ctx, runtime.SandboxFilter{PodUID: uid})
	if err != nil {
		return fmt.Errorf("nodeagent: pod %s: list sandboxes: %w", uid, err)
	}
	ip := ""
	for _, sbx := range sbs {
		if sbx.State == runtime.SandboxReady {
			ip = sbx.IP
		}
	}
	if slices.ContainsFunc(cs, func(c runtime.Container) bool { return c.State == runtime.ContainerRunning }) {
		podworkers.ReleaseSlot(ctx) // the grace period may be long
	}
	if err := s.killContainers(ctx, last, ip, cs, gracePeriod(last)); err != nil {
		return err
	}
	for _, sbx := range sbs {
		if err := s.rt.RemovePodSandbox(ctx, sbx.ID); err != nil {
			return fmt.Errorf("nodeagent: pod %s: remove sandbox %s: %w", uid, sbx.ID, err)
		}
	}
	for _, c := range cs { // containers whose sandbox was already gone
		if err := s.rt.RemoveContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("nodeagent: pod %s: remove container %s: %w", uid, c.ID, err)
		}
	}
	what := "orphan"
	if last != nil {
		what = podRef(last)
	}
	if len(cs) > 0 || len(sbs) > 0 {
		s.log.Info("pod gone from the API; its containers are removed", "pod", what, "podUID", uid,
			"containers", len(cs), "sandboxes", len(sbs))
	}
	if s.probes != nil {
		s.probes.ForgetPod(uid)
	}
	if err := s.vols.RemovePodDir(uid); err != nil {
		return fmt.Errorf("nodeagent: %w", err)
	}
	s.back.forget(uid)
	s.metrics.gone(uid)
	s.status.Forget(types.UID(uid))
	s.pods.TornDown(uid)
	return nil
}

// stopTerminal stops what still runs of a Succeeded or Failed pod and its
// sandbox, keeping the containers for their status.
func (s *podSyncer) stopTerminal(ctx context.Context, uid string, pod *corev1.Pod) error {
	sbs, err := s.rt.ListPodSandboxes(ctx, runtime.SandboxFilter{PodUID: uid, State: runtime.SandboxReady})
	if err != nil {
		return fmt.Errorf("nodeagent: pod %s: list sandboxes: %w", podRef(pod), err)
	}
	for _, sbx := range sbs {
		cs, err := s.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sbx.ID, State: runtime.ContainerRunning})
		if err != nil {
			return fmt.Errorf("nodeagent: pod %s: list containers: %w", podRef(pod), err)
		}
		if err := s.killContainers(ctx, pod, sbx.IP, cs, gracePeriod(pod)); err != nil {
			return err
		}
		if err := s.rt.StopPodSandbox(ctx, sbx.ID); err != nil {
			return fmt.Errorf("nodeagent: pod %s: stop sandbox: %w", podRef(pod), err)
		}
	}
	return nil
}
