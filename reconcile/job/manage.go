package job

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/reconcile"
)

// burst caps the pods created or deleted for one Job in one pass, as
// kube-controller-manager's burstReplicas.
const burst = 500

// noIndex marks a pod to create for a Job that is not Indexed.
const noIndex = -1

// manage creates and deletes the Job's pods for this pass, then adds the
// conditions of its end when it ended.
func (c *Controller) manage(ctx context.Context, p *pass) error {
	var victims []*corev1.Pod
	var create []int32
	suspended := p.job.Spec.Suspend != nil && *p.job.Spec.Suspend
	switch {
	case p.failure != nil, suspended:
		victims = p.active
	case p.completionsReached():
		victims = p.active
	default:
		victims, create = plan(p)
	}
	if len(create) > 0 {
		if wait := p.backoffWait(); wait > 0 {
			p.requeue(wait)
			create = nil
		}
	}
	victims = victims[:min(len(victims), burst)]
	create = create[:min(len(create), burst)]
	delErr := c.deletePods(ctx, p, victims)
	createErr := c.createPods(ctx, p, create)
	p.finish()
	p.fillCounts()
	return errors.Join(delErr, createErr)
}

// completionsReached reports whether a Job with a completion count has its
// successes (a work-queue Job is done only when its pods are).
func (p *pass) completionsReached() bool {
	return completions(p.job) >= 0 && p.succeededAll()
}

// plan picks the active pods to delete and the pods to create (their
// indexes, or noIndex) so that the Job runs as many pods as it wants.
func plan(p *pass) (victims []*corev1.Pod, create []int32) {
	if p.doneIndexes != nil {
		return planIndexed(p)
	}
	want := parallelism(p.job)
	if n := completions(p.job); n >= 0 {
		want = min(want, n-int32(len(p.succeeded)))
	} else if len(p.succeeded) > 0 {
		want = int32(len(p.active)) // a work queue that succeeded starts no more pods
	}
	want = max(want, 0)
	have := int32(len(p.active))
	if have > want {
		return rankForDeletion(p.active)[:have-want], nil
	}
	for range want - have {
		create = append(create, noIndex)
	}
	return nil, create
}

// planIndexed keeps one active pod per pending index (deleting duplicates,
// pods of completed indexes and pods without a valid index) and creates
// pods for the lowest indexes that have none, up to parallelism.
func planIndexed(p *pass) (victims []*corev1.Pod, create []int32) {
	n := completions(p.job)
	running := map[int32]bool{}
	var kept []*corev1.Pod
	for _, pod := range p.active {
		i, ok := podIndex(pod)
		if !ok || i >= n || p.doneIndexes[i] || running[i] {
			victims = append(victims, pod)
			continue
		}
		running[i] = true
		kept = append(kept, pod)
	}
	par := parallelism(p.job)
	if int32(len(kept)) > par {
		return append(victims, rankForDeletion(kept)[:int32(len(kept))-par]...), nil
	}
	for i := int32(0); i < n && int32(len(kept)+len(create)) < par; i++ {
		if !p.doneIndexes[i] && !running[i] {
			create = append(create, i)
		}
	}
	return victims, create
}

// rankForDeletion sorts pods so that those whose loss costs least come
// first: unscheduled, then pending, then not ready, then the newest.
func rankForDeletion(pods []*corev1.Pod) []*corev1.Pod {
	out := slices.Clone(pods)
	score := func(p *corev1.Pod) int {
		s := 0
		if p.Spec.NodeName != "" {
			s += 4
		}
		if p.Status.Phase == corev1.PodRunning {
			s += 2
		}
		if podReady(p) {
			s++
		}
		return s
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := score(out[i]), score(out[j]); a != b {
			return a < b
		}
		return out[j].CreationTimestamp.Before(&out[i].CreationTimestamp)
	})
	return out
}

// backoffWait is how long replacing failed pods must still wait: 10 s after
// the last failure, doubled for each failure since the last success, at
// most 6 minutes, as Kubernetes' pod failure backoff.
func (p *pass) backoffWait() time.Duration {
	var lastSuccess, lastFailure time.Time
	for _, pod := range p.succeeded {
		lastSuccess = later(lastSuccess, finishedAt(pod))
	}
	n := 0
	for _, pod := range p.failed {
		t := finishedAt(pod)
		if t.After(lastSuccess) {
			n++
			lastFailure = later(lastFailure, t)
		}
	}
	if n == 0 {
		return 0
	}
	delay := MaxPodFailureBackoff
	if n <= 16 {
		delay = min(DefaultPodFailureBackoff<<(n-1), MaxPodFailureBackoff)
	}
	return lastFailure.Add(delay).Sub(p.now)
}

// finishedAt is when a terminated pod finished: its containers' latest
// finish time, else its last condition change, else its creation.
func finishedAt(pod *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		if term := cs.State.Terminated; term != nil {
			t = later(t, term.FinishedAt.Time)
		}
	}
	if !t.IsZero() {
		return t
	}
	for _, c := range pod.Status.Conditions {
		t = later(t, c.LastTransitionTime.Time)
	}
	if !t.IsZero() {
		return t
	}
	return pod.CreationTimestamp.Time
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// deletePods deletes victims as kube-apiserver's pod strategy does
// (api.GracefulPodDelete): a bound, running pod is marked with a deletion
// timestamp and left to its agent, any other is removed at once. The
// victims leave p.active; the marked ones count as terminating.
func (c *Controller) deletePods(ctx context.Context, p *pass, victims []*corev1.Pod) error {
	if len(victims) == 0 {
		return nil
	}
	key := reconcile.KeyOf(p.job)
	names := make([]string, len(victims))
	for i, v := range victims {
		names[i] = v.Name
	}
	c.exp.expect(key, p.job.Namespace, nil, names)
	var mu sync.Mutex
	var errs []error
	c.parallel(len(victims), func(i int) {
		graceful, err := c.deletePod(ctx, victims[i], p.now)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			errs = append(errs, err)
			return
		case graceful:
			p.terminating++
		}
		c.rec.Eventf(events.Ref(p.job), corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %s", victims[i].Name)
	})
	p.active = slices.DeleteFunc(p.active, func(pod *corev1.Pod) bool { return slices.Contains(victims, pod) })
	if len(errs) > 0 {
		return fmt.Errorf("job: %s: delete %d of %d pods failed: %w", key, len(errs), len(victims), errors.Join(errs...))
	}
	return nil
}

// deletePod deletes one pod (see deletePods) and reports whether it was only
// marked for graceful deletion. A pod already gone is no error.
func (c *Controller) deletePod(ctx context.Context, pod *corev1.Pod, now time.Time) (graceful bool, err error) {
	cp := pod.DeepCopy()
	if api.GracefulPodDelete(cp, now, nil) {
		err = c.writer.Update(ctx, cp)
		graceful = true
	} else {
		err = c.writer.Delete(ctx, c.podsRes, pod.Namespace, pod.Name, pod.ResourceVersion)
	}
	if errors.Is(err, api.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	return graceful, nil
}

// createPods creates a pod for each entry of indexes in slow-start batches
// of 1, 2, 4, ... (at most CreateParallelism at once); a batch with a
// failure stops the pass. Created pods join p.active.
func (c *Controller) createPods(ctx context.Context, p *pass, indexes []int32) error {
	key := reconcile.KeyOf(p.job)
	var created []string
	defer func() { c.exp.expect(key, p.job.Namespace, created, nil) }()
	var mu sync.Mutex
	for start, batch := 0, 1; start < len(indexes); start, batch = start+batch, batch*2 {
		part := indexes[start:min(start+batch, len(indexes))]
		var errs []error
		c.parallel(len(part), func(i int) {
			pod, err := c.createPod(ctx, p.job, part[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			created = append(created, pod.Name)
			p.active = append(p.active, pod)
		})
		if len(errs) > 0 {
			return fmt.Errorf("job: %s: created %d of %d pods: %w", key, len(created), len(indexes), errors.Join(errs...))
		}
	}
	return nil
}

// createPod admits and creates one pod of job, recording SuccessfulCreate
// or FailedCreate.
func (c *Controller) createPod(ctx context.Context, job *batchv1.Job, index int32) (*corev1.Pod, error) {
	pod := newPod(job, index)
	var err error
	if c.admit != nil {
		err = c.admit.AdmitPod(ctx, pod)
	}
	if err == nil {
		err = c.writer.Create(ctx, pod)
	}
	if err != nil {
		if ctx.Err() == nil {
			c.rec.Eventf(events.Ref(job), corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
		}
		return nil, err
	}
	c.rec.Eventf(events.Ref(job), corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %s", pod.Name)
	return pod, nil
}

// parallel calls fn(0..n-1), at most CreateParallelism at once, and waits.
func (c *Controller) parallel(n int, fn func(i int)) {
	sem := make(chan struct{}, c.parallelism)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

// newPod returns a pod of job from its template: generateName <job>- (or
// <job>-<index>-), the template's labels with the Job's, a controller
// reference to the Job, and for an Indexed Job the index annotation and
// label, the hostname <job>-<index> and JOB_COMPLETION_INDEX.
func newPod(job *batchv1.Job, index int32) *corev1.Pod {
	tmpl := &job.Spec.Template
	lbls := maps.Clone(tmpl.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	uid := string(job.UID)
	lbls[batchv1.ControllerUidLabel], lbls[LegacyControllerUIDLabel] = uid, uid
	lbls[batchv1.JobNameLabel], lbls[LegacyJobNameLabel] = job.Name, job.Name
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       job.Namespace,
			GenerateName:    job.Name + "-",
			Labels:          lbls,
			Annotations:     maps.Clone(tmpl.Annotations),
			Finalizers:      slices.Clone(tmpl.Finalizers),
			OwnerReferences: []metav1.OwnerReference{controllerRef(job)},
		},
		Spec:   *tmpl.Spec.DeepCopy(),
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	if index != noIndex {
		setIndex(pod, job.Name, index)
	}
	return pod
}

// setIndex makes pod the pod of completion index i, as Kubernetes does.
func setIndex(pod *corev1.Pod, jobName string, i int32) {
	v := strconv.Itoa(int(i))
	pod.GenerateName = jobName + "-" + v + "-"
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = v
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = v
	if pod.Spec.Hostname == "" {
		pod.Spec.Hostname = jobName + "-" + v
	}
	env := corev1.EnvVar{Name: CompletionIndexEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		APIVersion: "v1", FieldPath: "metadata.annotations['" + batchv1.JobCompletionIndexAnnotation + "']",
	}}}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for k := range list {
			if !slices.ContainsFunc(list[k].Env, func(e corev1.EnvVar) bool { return e.Name == CompletionIndexEnv }) {
				list[k].Env = append(list[k].Env, env)
			}
		}
	}
}

// controllerRef is the controller reference of job's pods.
func controllerRef(job *batchv1.Job) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID,
		Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(true),
	}
}
