package rollout

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/sync/state"
)

// Defaults of Options.
const (
	DefaultTimeout  = 5 * time.Minute
	DefaultInterval = time.Second
)

// Annotation and reason names read from Kubernetes-style objects.
const (
	annotationRevision             = "deployment.kubernetes.io/revision"
	reasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
)

// failingWaitReasons are container waiting reasons that fail a rollout.
var failingWaitReasons = map[string]bool{
	"CrashLoopBackOff": true,
	"ErrImagePull":     true,
	"ImagePullBackOff": true,
	"InvalidImageName": true,
}

// API is what Wait reads through; *client.Client implements it.
type API interface {
	// Status returns the sync status.
	Status(ctx context.Context) (state.Status, error)
	// History returns up to limit sync attempts, newest first.
	History(ctx context.Context, limit int) ([]state.Attempt, error)
	// ListAt lists objects and returns the resourceVersion to watch from.
	ListAt(ctx context.Context, r api.Resource, ns, selector string) ([]api.Object, string, error)
	// Watch streams changes after rv until ctx ends or fn fails.
	Watch(ctx context.Context, r api.Resource, ns, selector, rv string, fn func(client.Event) error) error
}

// Options control Wait.
type Options struct {
	// Out receives progress and the final summary; nil discards them.
	Out io.Writer
	// Terminal redraws progress bars in place with ANSI escapes; otherwise
	// a plain line is written whenever a Deployment's figures change.
	Terminal bool
	// Commit, when set (a SHA or a prefix of one), is waited for first:
	// Wait follows its rollout once it is synced and fails when its sync is
	// rejected. "" follows the currently synced commit.
	Commit string
	// Timeout bounds the whole wait; 0 means DefaultTimeout.
	Timeout time.Duration
	// Interval is how often state is re-read without an event; 0 means
	// DefaultInterval.
	Interval time.Duration
	// Now tells the time (for the elapsed time shown); nil means time.Now.
	Now func() time.Time
}

// Outcome is how a wait ended.
type Outcome int

// The outcomes of Wait.
const (
	// Succeeded: every Deployment is rolled out.
	Succeeded Outcome = iota
	// Failed: a rollout or the sync failed; Result.Reason says why.
	Failed
	// TimedOut: Options.Timeout passed first.
	TimedOut
)

// String returns "succeeded", "failed" or "timed out".
func (o Outcome) String() string {
	switch o {
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed"
	case TimedOut:
		return "timed out"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Progress is one Deployment's rollout figures.
type Progress struct {
	Namespace, Name string
	// Desired is spec.replicas; the others are the status's counts.
	Desired, Updated, Ready, Available int32
	// OldPods counts pods of older ReplicaSets still present.
	OldPods int
	// Done is true when the Deployment is rolled out.
	Done bool
}

// PodFailure is a container of a new pod that keeps a rollout from
// progressing.
type PodFailure struct {
	Namespace, Pod, Container string
	// Reason is the container's waiting reason ("CrashLoopBackOff").
	Reason string
	// Message is the waiting message, "" when none.
	Message string
}

// String formats the failure as "pod ns/name container app: Reason: message".
func (f PodFailure) String() string {
	s := fmt.Sprintf("pod %s/%s container %s: %s", f.Namespace, f.Pod, f.Container, f.Reason)
	if f.Message != "" {
		s += ": " + f.Message
	}
	return s
}

// Result is what Wait found.
type Result struct {
	Outcome Outcome
	// Commit is the commit whose rollout was followed (zero when none was
	// synced in time).
	Commit state.CommitInfo
	// Reason explains a failure or what was still pending at the timeout.
	Reason string
	// Deployments are the last figures seen, by namespace and name.
	Deployments []Progress
	// FailingPods are the new pods whose containers fail (Failed only).
	FailingPods []PodFailure
	// Warnings are the Warning Events about what had not rolled out when
	// the wait failed or timed out (the unfinished Deployments, their new
	// ReplicaSets and those ReplicaSets' pods that are not ready), oldest
	// first: why pods are Pending ("FailedScheduling ... 3 Insufficient
	// cpu."), failing probes, image pulls.
	Warnings []string
}

// Wait follows the rollout (see the package documentation) until it
// succeeds, fails or times out, writing progress to opts.Out. The returned
// error is only for a ctx cancelled by the caller; API errors are retried
// until the timeout and then named in Result.Reason.
func Wait(ctx context.Context, api API, opts Options) (Result, error) {
	defaults.Positive(&opts.Timeout, DefaultTimeout)
	defaults.Positive(&opts.Interval, DefaultInterval)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	w := &waiter{api: api, opts: opts, start: opts.Now(), wake: make(chan struct{}, 1), printed: map[string]string{}}
	wctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	res, err := w.run(wctx)
	if err != nil && ctx.Err() != nil {
		return res, fmt.Errorf("rollout: %w", ctx.Err())
	}
	if err != nil { // our own deadline
		res.Outcome = TimedOut
		pending := w.pending(res.Deployments)
		switch {
		case res.Commit.SHA == "":
			res.Reason = fmt.Sprintf("timed out after %s waiting for commit %s to be synced", opts.Timeout, orAny(opts.Commit))
		case pending == "":
			res.Reason = fmt.Sprintf("timed out after %s before the Deployments could be read", opts.Timeout)
		default:
			res.Reason = fmt.Sprintf("timed out after %s waiting for %s", opts.Timeout, pending)
		}
		if w.lastErr != nil {
			res.Reason += fmt.Sprintf(" (last error: %v)", w.lastErr)
		}
	}
	if res.Outcome != Succeeded && len(w.stuck) > 0 {
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		res.Warnings = w.warnings(ectx)
		cancel()
	}
	w.summary(res)
	return res, nil
}

func orAny(s string) string {
	if s == "" {
		return "any commit"
	}
	return s
}

type waiter struct {
	api   API
	opts  Options
	start time.Time
	wake  chan struct{}

	lastErr     error
	superseded  *state.Attempt    // the awaited commit's attempt, when a later commit is synced
	waitingSaid string            // the last "waiting" message printed
	stuck       map[objKey]bool   // what had not rolled out at the last read
	drawn       int               // lines drawn last time (terminal)
	printed     map[string]string // last plain line per Deployment
}

// sleep waits for an event, the interval or the end of ctx.
func (w *waiter) sleep(ctx context.Context) error {
	t := time.NewTimer(w.opts.Interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-w.wake:
	case <-t.C:
	}
	return nil
}

func (w *waiter) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *waiter) run(ctx context.Context) (Result, error) {
	var res Result
	// Phase 1: the commit.
	told := false
	for {
		st, err := w.api.Status(ctx)
		if err == nil && w.opts.Commit != "" && st.Synced != nil && !matches(st.Synced.Commit.SHA, w.opts.Commit) {
			w.findInHistory(ctx)
		}
		if err == nil {
			w.lastErr = nil
			done, failed := w.checkSync(st, &res)
			if failed || done {
				if failed {
					return res, nil
				}
				break
			}
			if !told {
				told = true
				synced := "none"
				if st.Synced != nil {
					synced = st.Synced.Commit.Short()
				}
				fmt.Fprintf(w.opts.Out, "Waiting for commit %s to be synced (synced now: %s)\n", orAny(w.opts.Commit), synced)
			}
		} else if ctx.Err() == nil {
			w.lastErr = err
		}
		if err := w.sleep(ctx); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(w.opts.Out, "Waiting for the rollout of %s %q\n", res.Commit.Short(), res.Commit.Subject)

	// Phase 2: the Deployments.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, name := range []string{"deployments", "pods"} {
		r, _ := api.Lookup(name)
		sel := ""
		if name == "deployments" {
			sel = api.LabelManagedBy + "=" + api.ManagedByValue
		}
		go w.watch(wctx, r, sel)
	}
	for {
		snap, err := w.read(ctx)
		if err == nil {
			w.lastErr = nil
			res.Deployments = snap.progress
			w.stuck = snap.stuck
			w.draw(snap.progress)
			if len(snap.failures) > 0 || snap.failReason != "" {
				res.Outcome = Failed
				res.FailingPods = snap.failures
				res.Reason = snap.failReason
				if res.Reason == "" {
					res.Reason = "new pods are failing"
				}
				return res, nil
			}
			if snap.syncFailed != "" {
				res.Outcome = Failed
				res.Reason = snap.syncFailed
				return res, nil
			}
			if w.pending(snap.progress) == "" {
				res.Outcome = Succeeded
				return res, nil
			}
		} else if ctx.Err() == nil {
			w.lastErr = err
		}
		if err := w.sleep(ctx); err != nil {
			return res, err
		}
	}
}

// checkSync decides from the status whether the awaited commit is synced
// (done) or its sync failed.
func (w *waiter) checkSync(st state.Status, res *Result) (done, failed bool) {
	la := st.LastAttempt
	if la != nil && la.Result == state.ResultWaiting {
		if w.waitingSaid != la.Message {
			w.waitingSaid = la.Message
			fmt.Fprintf(w.opts.Out, "Commit %s is %s\n", la.Commit.Short(), la.Message)
		}
		if w.opts.Commit != "" && matches(la.Commit.SHA, w.opts.Commit) {
			return false, false // held back: wait for it
		}
		la = nil // the synced commit's rollout is what runs
	}
	if w.opts.Commit == "" {
		if la != nil && la.Result != state.ResultApplied {
			res.Outcome = Failed
			res.Commit = la.Commit
			res.Reason = attemptReason(*la)
			return false, true
		}
		if st.Synced == nil {
			return false, false
		}
		res.Commit = st.Synced.Commit
		return true, false
	}
	if st.Synced != nil && matches(st.Synced.Commit.SHA, w.opts.Commit) {
		res.Commit = st.Synced.Commit
		return true, false
	}
	if la != nil && matches(la.Commit.SHA, w.opts.Commit) && la.Result != state.ResultApplied {
		res.Outcome = Failed
		res.Commit = la.Commit
		res.Reason = attemptReason(*la)
		return false, true
	}
	if st.Synced == nil || w.superseded == nil {
		return false, false
	}
	// The commit was handled before a later one: a result other than
	// applied (rolled back, say) fails; applied means a newer commit was
	// synced on top of it, whose rollout is followed instead.
	a := *w.superseded
	if a.Result != state.ResultApplied {
		res.Outcome = Failed
		res.Commit = a.Commit
		res.Reason = attemptReason(a)
		return false, true
	}
	fmt.Fprintf(w.opts.Out, "Commit %s was synced and then superseded by %s; following that one.\n", a.Commit.Short(), st.Synced.Commit.Short())
	res.Commit = st.Synced.Commit
	return true, false
}

// findInHistory looks the awaited commit up in the sync history and keeps
// its newest attempt in w.superseded.
func (w *waiter) findInHistory(ctx context.Context) {
	h, err := w.api.History(ctx, historyDepth)
	if err != nil {
		return
	}
	for _, a := range h {
		if matches(a.Commit.SHA, w.opts.Commit) {
			w.superseded = &a
			return
		}
	}
}

// historyDepth is how many history entries Wait searches for the awaited
// commit.
const historyDepth = 100

func attemptReason(a state.Attempt) string {
	s := fmt.Sprintf("the sync of commit %s was %s", a.Commit.Short(), a.Result)
	if a.Message != "" {
		s += ": " + a.Message
	}
	for _, p := range a.Problems.Errors() {
		s += "\n  " + p.String()
	}
	return s
}

func matches(sha, want string) bool {
	return want != "" && strings.HasPrefix(strings.ToLower(sha), strings.ToLower(want))
}

// watch pings w.wake on every change of r, re-listing after errors, until
// ctx ends.
func (w *waiter) watch(ctx context.Context, r api.Resource, sel string) {
	for ctx.Err() == nil {
		_, rv, err := w.api.ListAt(ctx, r, "", sel)
		if err == nil {
			err = w.api.Watch(ctx, r, "", sel, rv, func(client.Event) error {
				w.notify()
				return nil
			})
		}
		if ctx.Err() != nil {
			return
		}
		w.notify() // look again: something may have been missed
		t := time.NewTimer(w.opts.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

type snapshot struct {
	progress   []Progress
	failures   []PodFailure
	failReason string
	syncFailed string
	stuck      map[objKey]bool
}

// objKey names an object as an Event's involvedObject does.
type objKey struct{ kind, namespace, name string }

// warnings lists the Warning Events about w.stuck, oldest first, as
// "Warning Reason pod/name (xN): message". It is best effort: an error
// lists none.
func (w *waiter) warnings(ctx context.Context) []string {
	r, ok := api.Lookup("events")
	if !ok {
		return nil
	}
	objs, _, err := w.api.ListAt(ctx, r, "", "")
	if err != nil {
		return nil
	}
	var evs []*corev1.Event
	for _, o := range objs {
		ev, ok := o.(*corev1.Event)
		io := ev.InvolvedObject
		if ok && ev.Type == corev1.EventTypeWarning && w.stuck[objKey{io.Kind, io.Namespace, io.Name}] {
			evs = append(evs, ev)
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].LastTimestamp.Before(&evs[j].LastTimestamp) })
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		line := fmt.Sprintf("Warning %s %s/%s", ev.Reason, strings.ToLower(ev.InvolvedObject.Kind), ev.InvolvedObject.Name)
		if ev.Count > 1 {
			line += fmt.Sprintf(" (x%d)", ev.Count)
		}
		out = append(out, line+": "+ev.Message)
	}
	return out
}

func (w *waiter) read(ctx context.Context) (snapshot, error) {
	var snap snapshot
	list := func(name, sel string) ([]api.Object, error) {
		r, ok := api.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("rollout: no resource %s", name)
		}
		objs, _, err := w.api.ListAt(ctx, r, "", sel)
		return objs, err
	}
	deps, err := list("deployments", api.LabelManagedBy+"="+api.ManagedByValue)
	if err != nil {
		return snap, err
	}
	rss, err := list("replicasets", "")
	if err != nil {
		return snap, err
	}
	pods, err := list("pods", "")
	if err != nil {
		return snap, err
	}
	st, err := w.api.Status(ctx)
	if err != nil {
		return snap, err
	}
	if la := st.LastAttempt; la != nil && la.Result != state.ResultApplied && la.Result != state.ResultWaiting {
		snap.syncFailed = attemptReason(*la)
	}
	rsByOwner := map[string][]*appsv1.ReplicaSet{}
	for _, o := range rss {
		rs, ok := o.(*appsv1.ReplicaSet)
		if !ok {
			continue
		}
		if ref := metav1.GetControllerOf(rs); ref != nil {
			rsByOwner[string(ref.UID)] = append(rsByOwner[string(ref.UID)], rs)
		}
	}
	podsByOwner := map[string][]*corev1.Pod{}
	for _, o := range pods {
		p, ok := o.(*corev1.Pod)
		if !ok {
			continue
		}
		if ref := metav1.GetControllerOf(p); ref != nil {
			podsByOwner[string(ref.UID)] = append(podsByOwner[string(ref.UID)], p)
		}
	}
	var reasons []string
	for _, o := range deps {
		d, ok := o.(*appsv1.Deployment)
		if !ok {
			continue
		}
		pr := Progress{
			Namespace: d.Namespace, Name: d.Name, Desired: 1,
			Updated: d.Status.UpdatedReplicas, Ready: d.Status.ReadyReplicas, Available: d.Status.AvailableReplicas,
		}
		if d.Spec.Replicas != nil {
			pr.Desired = *d.Spec.Replicas
		}
		current := d.Status.ObservedGeneration >= d.Generation
		newRS := newReplicaSet(d, rsByOwner[string(d.UID)])
		for _, rs := range rsByOwner[string(d.UID)] {
			if newRS != nil && rs.UID == newRS.UID {
				continue
			}
			pr.OldPods += len(podsByOwner[string(rs.UID)])
		}
		pr.Done = current && d.Status.ObservedGeneration == d.Generation &&
			pr.Updated == pr.Desired && d.Status.Replicas == pr.Desired && pr.Available == pr.Desired && pr.OldPods == 0
		snap.progress = append(snap.progress, pr)
		if !pr.Done {
			if snap.stuck == nil {
				snap.stuck = map[objKey]bool{}
			}
			snap.stuck[objKey{"Deployment", d.Namespace, d.Name}] = true
			if newRS != nil {
				snap.stuck[objKey{"ReplicaSet", newRS.Namespace, newRS.Name}] = true
				for _, p := range podsByOwner[string(newRS.UID)] {
					if !podReady(p) {
						snap.stuck[objKey{"Pod", p.Namespace, p.Name}] = true
					}
				}
			}
		}
		if !current {
			continue
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == reasonProgressDeadlineExceeded {
				msg := fmt.Sprintf("deployment %s/%s: %s", d.Namespace, d.Name, c.Reason)
				if c.Message != "" {
					msg += ": " + c.Message
				}
				reasons = append(reasons, msg)
			}
		}
		if newRS != nil && !pr.Done {
			for _, p := range podsByOwner[string(newRS.UID)] {
				snap.failures = append(snap.failures, podFailures(p)...)
			}
		}
	}
	sort.Slice(snap.progress, func(i, j int) bool {
		a, b := snap.progress[i], snap.progress[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	snap.failReason = strings.Join(reasons, "; ")
	return snap, nil
}

// newReplicaSet returns the ReplicaSet of d's current revision: the one
// whose revision annotation equals d's, else the highest revision.
func newReplicaSet(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	want := d.Annotations[annotationRevision]
	var best *appsv1.ReplicaSet
	bestRev := int64(-1)
	for _, rs := range rss {
		rev := rs.Annotations[annotationRevision]
		if want != "" && rev == want {
			return rs
		}
		n, err := strconv.ParseInt(rev, 10, 64)
		if err != nil {
			n = 0
		}
		if n > bestRev {
			best, bestRev = rs, n
		}
	}
	return best
}

// podReady reports whether p's Ready condition is True.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podFailures(p *corev1.Pod) []PodFailure {
	var out []PodFailure
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.State.Waiting == nil || !failingWaitReasons[cs.State.Waiting.Reason] {
			continue
		}
		out = append(out, PodFailure{Namespace: p.Namespace, Pod: p.Name, Container: cs.Name,
			Reason: cs.State.Waiting.Reason, Message: cs.State.Waiting.Message})
	}
	return out
}

// pending names the Deployments not yet rolled out, with their figures; ""
// when all are.
func (w *waiter) pending(ps []Progress) string {
	var out []string
	for _, p := range ps {
		if !p.Done {
			out = append(out, plainLine(p))
		}
	}
	return strings.Join(out, "; ")
}

func plainLine(p Progress) string {
	s := fmt.Sprintf("%s/%s: updated %d/%d, ready %d/%d, available %d/%d", p.Namespace, p.Name,
		p.Updated, p.Desired, p.Ready, p.Desired, p.Available, p.Desired)
	if p.OldPods > 0 {
		s += fmt.Sprintf(", %d old pods", p.OldPods)
	}
	if p.Done {
		s += " (rolled out)"
	}
	return s
}

const barWidth = 20

func bar(n, of int32) string {
	filled := barWidth
	if of > 0 {
		filled = int(min(max(n, 0), of)) * barWidth / int(of)
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled) + "]"
}

func (w *waiter) draw(ps []Progress) {
	if !w.opts.Terminal {
		for _, p := range ps {
			k := p.Namespace + "/" + p.Name
			l := plainLine(p)
			if w.printed[k] != l {
				w.printed[k] = l
				fmt.Fprintln(w.opts.Out, l)
			}
		}
		return
	}
	var b strings.Builder
	if w.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", w.drawn)
	}
	b.WriteString("\r\x1b[J")
	width := 0
	for _, p := range ps {
		width = max(width, len(p.Namespace)+1+len(p.Name))
	}
	for _, p := range ps {
		mark := " "
		if p.Done {
			mark = "✓"
		}
		fmt.Fprintf(&b, "%s %-*s  updated %s %d/%d  ready %s %d/%d  available %s %d/%d", mark, width, p.Namespace+"/"+p.Name,
			bar(p.Updated, p.Desired), p.Updated, p.Desired, bar(p.Ready, p.Desired), p.Ready, p.Desired,
			bar(p.Available, p.Desired), p.Available, p.Desired)
		if p.OldPods > 0 {
			fmt.Fprintf(&b, "  old pods %d", p.OldPods)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "  elapsed %s\n", w.opts.Now().Sub(w.start).Truncate(time.Second))
	w.drawn = len(ps) + 1
	io.WriteString(w.opts.Out, b.String())
}

// summary writes the outcome.
func (w *waiter) summary(res Result) {
	out := w.opts.Out
	switch res.Outcome {
	case Succeeded:
		fmt.Fprintf(out, "Rolled out: commit %s, %d Deployments, in %s.\n", res.Commit.Short(), len(res.Deployments),
			w.opts.Now().Sub(w.start).Truncate(time.Millisecond))
	case Failed:
		fmt.Fprintf(out, "Rollout failed: %s\n", res.Reason)
		for _, f := range res.FailingPods {
			fmt.Fprintln(out, "  "+f.String())
		}
	case TimedOut:
		fmt.Fprintf(out, "Rollout not finished: %s\n", res.Reason)
	}
	if len(res.Warnings) > 0 {
		fmt.Fprintln(out, "Events:")
		for _, w := range res.Warnings {
			fmt.Fprintln(out, "  "+w)
		}
	}
}
