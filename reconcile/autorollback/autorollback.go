package autorollback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/audit"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
	"github.com/bosun-dev/bosun/reconcile/deployment"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/sync/state"
)

// Name is the controller's name in logs and in its work queue.
const Name = "autorollback"

// AnnotationAutoRollback turns automatic rollback on ("true") or off
// ("false") for one Deployment, whatever Config.Enabled says.
const AnnotationAutoRollback = "bosun.dev/auto-rollback"

// KeyPrefix is where the controller records each automatic revert, one key
// per reverted commit: KeyPrefix + SHA, a JSON Record.
const KeyPrefix = "/bosun/autorollback/"

// Defaults of Config.
const (
	DefaultCrashLoopThreshold = 3
	DefaultFailingFor         = time.Minute
	DefaultRevertTimeout      = 2 * time.Minute
)

// RevertSubjectPrefix starts the subject of every revert commit (git's form,
// `Revert "<subject>"`); such commits are never reverted automatically.
const RevertSubjectPrefix = `Revert "`

// States of a Record.
const (
	// StateReverting: the commit is claimed and Reverter.Revert was called. A
	// record left in this state (the process died during the call) is not
	// retried: the revert may have been pushed.
	StateReverting = "reverting"
	// StateReverted: the revert commit RevertSHA was pushed.
	StateReverted = "reverted"
	// StateFailed: Reverter.Revert returned Error; bosun does not try again.
	StateFailed = "failed"
)

// Reverter writes and pushes a revert commit of sha to the tracked branch,
// with why in the commit body, and returns the new commit's SHA. It blocks
// until the push is done or ctx ends. The production implementation,
// gitwrite.BranchReverter (sync/gitwrite), is wired in by cmd/bosun; this
// package never writes Git itself.
type Reverter interface {
	Revert(ctx context.Context, sha, why string) (newSHA string, err error)
}

// ReverterFunc adapts a function to Reverter.
type ReverterFunc func(ctx context.Context, sha, why string) (string, error)

// Revert calls f.
func (f ReverterFunc) Revert(ctx context.Context, sha, why string) (string, error) {
	return f(ctx, sha, why)
}

// Config configures a Controller. Store, Informers and Reverter are required.
type Config struct {
	// Store holds the records and the sync history.
	Store *store.Store
	// Audit, when not nil, receives one audit event (verb rollback) per
	// automatic rollback recorded.
	Audit *audit.Logger
	// Fence, when not zero, is the leadership the controller runs under:
	// its claims and records are written only while it holds (an error
	// wrapping store.ErrFenced otherwise), so a deposed leader claims and
	// reverts nothing.
	Fence store.Fence
	// Informers supplies the Deployment, ReplicaSet and Pod caches.
	Informers *cache.Informers
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock judges how long pods have failed and drives the work queue; default clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many Deployments are looked at at once; default reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
	// Enabled turns automatic rollback on for every Deployment synced from
	// Git (--auto-rollback); the annotation bosun.dev/auto-rollback overrides it.
	Enabled bool
	// Reverter pushes revert commits.
	Reverter Reverter
	// CrashLoopThreshold is the restart count of a container of the newest
	// ReplicaSet's pods at which the rollout counts as failed; default 3.
	CrashLoopThreshold int
	// FailingFor is how long a pod of the newest ReplicaSet may wait with
	// CrashLoopBackOff, ErrImagePull, ImagePullBackOff,
	// CreateContainerConfigError (and the like) before the rollout counts as
	// failed, measured from the pod's creation; default one minute.
	FailingFor time.Duration
	// RevertTimeout bounds one Reverter.Revert call; default two minutes.
	RevertTimeout time.Duration
	// OnRevert, when set, is called after a revert was pushed (e.g. the sync
	// loop's Trigger, so the revert is synced at once). It must not block.
	OnRevert func(newSHA string)
	// Recorder receives an Event on the Deployment for each automatic
	// rollback: RolledBack (Normal) when the revert was pushed,
	// RollbackFailed (Warning) when it could not be. nil records none.
	Recorder *events.Recorder
}

// Reasons of the controller's Events.
const (
	ReasonRolledBack      = "RolledBack"
	ReasonRollbackFailed  = "RollbackFailed"
	ReasonRollbackSkipped = "RollbackSkipped"
)

// Record is what the controller stores under KeyPrefix + SHA for each
// commit it reverted or tried to revert.
type Record struct {
	// SHA and Subject identify the reverted commit.
	SHA     string `json:"sha"`
	Subject string `json:"subject,omitempty"`
	// Object names the Deployment whose rollout failed: "Deployment demo/hello".
	Object string `json:"object"`
	// Reason is why the rollout was judged failed; the revert's commit body.
	Reason string `json:"reason"`
	// Time is when the controller decided to revert.
	Time time.Time `json:"time"`
	// State is StateReverting, StateReverted or StateFailed.
	State string `json:"state"`
	// RevertSHA is the revert commit (StateReverted).
	RevertSHA string `json:"revertSHA,omitempty"`
	// Error says why the revert could not be pushed (StateFailed).
	Error string `json:"error,omitempty"`
}

// ReadRecords returns every stored Record, sorted by time.
func ReadRecords(ctx context.Context, s *store.Store) ([]Record, error) {
	kvs, err := s.ListRaw(ctx, KeyPrefix, 0, false)
	if err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("autorollback: read records: %w", err)
	}
	out := make([]Record, 0, len(kvs))
	for _, kv := range kvs {
		var r Record
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("autorollback: decode %s: %w", kv.Key, err)
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b Record) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// Controller reverts the commit that started a failed rollout. Create it with New.
type Controller struct {
	cfg         Config
	log         *slog.Logger
	deployments *cache.Informer
	replicaSets *cache.Informer
	pods        *cache.Informer
	queue       *reconcile.Controller

	mu     gosync.Mutex
	warned map[string]bool // commits whose failed rollout was left alone, logged once
}

// New returns a Controller and registers its handlers on the Deployment,
// ReplicaSet and Pod informers of cfg.Informers; call it before
// cfg.Informers.Start.
func New(cfg Config) (*Controller, error) {
	if cfg.Store == nil || cfg.Informers == nil || cfg.Reverter == nil {
		return nil, errors.New("autorollback: Config.Store, Config.Informers and Config.Reverter are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.CrashLoopThreshold, DefaultCrashLoopThreshold)
	defaults.Positive(&cfg.FailingFor, DefaultFailingFor)
	defaults.Positive(&cfg.RevertTimeout, DefaultRevertTimeout)
	c := &Controller{
		cfg:         cfg,
		log:         cfg.Logger.With("controller", Name),
		deployments: cfg.Informers.ForKind("deployments"),
		replicaSets: cfg.Informers.ForKind("replicasets"),
		pods:        cfg.Informers.ForKind("pods"),
		warned:      map[string]bool{},
	}
	c.queue = reconcile.NewController(Name, c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.replicaSets.AddIndex(cache.IndexOwnerUID, cache.IndexByOwnerUID)
	c.pods.AddIndex(cache.IndexOwnerUID, cache.IndexByOwnerUID)
	c.deployments.AddHandler(cache.Handler{
		OnAdd:    func(o api.Object) { c.queue.EnqueueObject(o) },
		OnUpdate: func(_, o api.Object) { c.queue.EnqueueObject(o) },
	})
	c.replicaSets.AddHandler(cache.Handler{
		OnAdd:    c.enqueueDeploymentOf,
		OnUpdate: func(_, o api.Object) { c.enqueueDeploymentOf(o) },
	})
	c.pods.AddHandler(cache.Handler{
		OnAdd:    c.enqueueOwnerOf,
		OnUpdate: func(_, o api.Object) { c.enqueueOwnerOf(o) },
	})
	return c, nil
}

// Run waits for the caches to sync, then watches rollouts until ctx ends. It
// returns nil when ctx ends (also while it still waits for the caches).
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.deployments, c.replicaSets, c.pods) {
		return nil // ctx ended
	}
	return c.queue.Run(ctx)
}

// enqueueOwnerOf enqueues the Deployment that owns the ReplicaSet owning pod.
func (c *Controller) enqueueOwnerOf(o api.Object) {
	pod := o.(*corev1.Pod)
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	if rs, ok := c.replicaSets.Get(pod.Namespace, ref.Name); ok {
		c.enqueueDeploymentOf(rs)
	}
}

// enqueueDeploymentOf enqueues the Deployment that controls a ReplicaSet.
func (c *Controller) enqueueDeploymentOf(rs api.Object) {
	if ref := metav1.GetControllerOf(rs); ref != nil && ref.Kind == "Deployment" {
		c.queue.Enqueue(rs.GetNamespace() + "/" + ref.Name)
	}
}

// enabled says whether automatic rollback applies to d.
func (c *Controller) enabled(d *appsv1.Deployment) bool {
	switch strings.ToLower(strings.TrimSpace(d.Annotations[AnnotationAutoRollback])) {
	case "true":
		return true
	case "false":
		return false
	}
	return c.cfg.Enabled
}

// Reconcile looks at the Deployment namespace/name (key): when it comes from
// Git, has automatic rollback on, and its rollout failed, it reverts the
// commit that last changed it, unless that commit is a revert, was reverted
// (or tried) before, or is a revert this controller made.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	o, ok := c.deployments.Get(ns, name)
	if !ok {
		return reconcile.Result{}, nil
	}
	d := o.(*appsv1.Deployment)
	sha := d.Annotations[api.AnnotationCommit]
	if d.Labels[api.LabelManagedBy] != api.ManagedByValue || sha == "" || !c.enabled(d) || d.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	why, recheck := c.failure(d)
	if why == "" {
		return reconcile.Result{RequeueAfter: recheck}, nil
	}
	return reconcile.Result{}, c.rollBack(ctx, d, sha, why)
}

// failure says why d's current rollout failed ("" when it has not), and
// otherwise when to look again (0: the next event will do).
func (c *Controller) failure(d *appsv1.Deployment) (string, time.Duration) {
	if d.Status.ObservedGeneration < d.Generation {
		return "", 0 // the deployment controller has not looked at this spec yet
	}
	obj := "Deployment " + d.Namespace + "/" + d.Name
	var progressing *appsv1.DeploymentCondition
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == appsv1.DeploymentProgressing {
			progressing = &d.Status.Conditions[i]
		}
	}
	if progressing != nil && progressing.Reason == deployment.ReasonNewReplicaSetAvailable {
		return "", 0 // rolled out; later crashes are not this rollout's
	}
	pods, recheck := c.failingPods(d)
	if progressing != nil && progressing.Status == corev1.ConditionFalse && progressing.Reason == deployment.ReasonProgressDeadlineExceeded {
		deadline := int32(600)
		if d.Spec.ProgressDeadlineSeconds != nil {
			deadline = *d.Spec.ProgressDeadlineSeconds
		}
		why := fmt.Sprintf("%s did not become available within %ds (%s)", obj, deadline, deployment.ReasonProgressDeadlineExceeded)
		if len(pods) > 0 {
			why += "; pods " + strings.Join(pods, "; ")
		}
		return why, 0
	}
	if len(pods) > 0 {
		return fmt.Sprintf("%s: new pods are failing: %s", obj, strings.Join(pods, "; ")), 0
	}
	return "", recheck
}

// badWaiting are the waiting reasons of a container that will not start by itself.
var badWaiting = map[string]bool{
	"CrashLoopBackOff":           true,
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"ErrImageNeverPull":          true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// failingPods describes the failing pods of d's newest ReplicaSet ("hello-x:
// ImagePullBackOff: message", sorted, at most 3 and a count of the rest), and
// when a pod that fails but not for long enough yet should be looked at again.
func (c *Controller) failingPods(d *appsv1.Deployment) ([]string, time.Duration) {
	rs := c.newestReplicaSet(d)
	if rs == nil {
		return nil, 0
	}
	now := c.cfg.Clock.Now()
	var out []string
	var recheck time.Duration
	for _, o := range c.pods.ByIndex(cache.IndexOwnerUID, string(rs.UID)) {
		pod := o.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			continue
		}
		statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
		for _, cs := range statuses {
			var desc string
			w := cs.State.Waiting
			switch {
			case cs.RestartCount >= int32(c.cfg.CrashLoopThreshold):
				desc = fmt.Sprintf("%s: container %s restarted %d times", pod.Name, cs.Name, cs.RestartCount)
				if t := cs.LastTerminationState.Terminated; t != nil {
					desc += fmt.Sprintf(" (last exit code %d, %s)", t.ExitCode, t.Reason)
				}
			case w != nil && badWaiting[w.Reason]:
				age := now.Sub(pod.CreationTimestamp.Time)
				if age < c.cfg.FailingFor {
					if left := c.cfg.FailingFor - age; recheck == 0 || left < recheck {
						recheck = left
					}
					continue
				}
				desc = pod.Name + ": " + w.Reason
				if w.Message != "" {
					desc += ": " + w.Message
				}
			default:
				continue
			}
			out = append(out, desc)
			break // one line per pod
		}
	}
	slices.Sort(out)
	if len(out) > 3 {
		out = append(out[:3], fmt.Sprintf("and %d more", len(out)-3))
	}
	return out, recheck
}

// newestReplicaSet returns the ReplicaSet of d with the highest revision.
func (c *Controller) newestReplicaSet(d *appsv1.Deployment) *appsv1.ReplicaSet {
	var best *appsv1.ReplicaSet
	bestRev := int64(-1)
	for _, o := range c.replicaSets.ByIndex(cache.IndexOwnerUID, string(d.UID)) {
		rs := o.(*appsv1.ReplicaSet)
		if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
			continue
		}
		rev, err := strconv.ParseInt(rs.Annotations[deployment.AnnotationRevision], 10, 64)
		if err != nil {
			continue
		}
		if rev > bestRev {
			best, bestRev = rs, rev
		}
	}
	return best
}

// rollBack reverts sha for the failed rollout of d, at most once per commit
// across restarts and leaders, and never a revert.
func (c *Controller) rollBack(ctx context.Context, d *appsv1.Deployment, sha, why string) error {
	obj := "Deployment " + d.Namespace + "/" + d.Name
	log := c.log.With("deployment", d.Namespace+"/"+d.Name, "commit", short(sha))
	c.mu.Lock()
	decided := c.warned[sha]
	c.mu.Unlock()
	if decided {
		return nil // left alone before; neither its history nor the records change that
	}

	if _, _, err := c.cfg.Store.GetRaw(ctx, KeyPrefix+sha); err == nil {
		log.Debug("rollout failed, but this commit was already reverted automatically (or tried): nothing more to do")
		return nil
	} else if !errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("autorollback: %w", err)
	}
	recs, err := ReadRecords(ctx, c.cfg.Store)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.RevertSHA == sha {
			c.warnOnce(log, sha, "rollout of bosun's own revert failed; not reverting again: fix the repository by hand", "reverted", short(r.SHA), "reason", why)
			return nil
		}
	}
	info, found, err := c.commitInfo(ctx, sha)
	if err != nil {
		return err
	}
	// The latest commit wins: a commit that is no longer the synced one is
	// superseded, not reverted (the newer commit's own rollout decides).
	if st, err := records.ReadStatus(ctx, c.cfg.Store); err == nil && st.Synced != nil && st.Synced.Commit.SHA != sha {
		c.mu.Lock()
		told := c.warned[sha]
		c.mu.Unlock()
		if !told {
			c.cfg.Recorder.Eventf(events.Ref(d), corev1.EventTypeWarning, ReasonRollbackSkipped,
				"Rollout failed (%s), but commit %s is synced since %s: the newest commit wins, so %s is not reverted",
				why, st.Synced.Commit.Short(), short(sha), short(sha))
		}
		c.warnOnce(log, sha, "rollout failed, but a newer commit is synced: the newest commit wins; not reverting",
			"synced", st.Synced.Commit.Short(), "reason", why)
		return nil
	}
	switch {
	case !found:
		c.warnOnce(log, sha, "rollout failed, but its commit is not in the sync history; not reverting", "reason", why)
		return nil
	case strings.HasPrefix(info.Subject, RevertSubjectPrefix):
		c.warnOnce(log, sha, "rollout of a revert commit failed; reverts are never reverted: fix the repository by hand", "reason", why)
		return nil
	}

	rec := Record{SHA: sha, Subject: info.Subject, Object: obj, Reason: why, Time: c.cfg.Clock.Now().UTC(), State: StateReverting}
	claimed, err := c.claim(ctx, rec)
	if err != nil || !claimed {
		return err
	}
	log.Warn("rollout failed; pushing a revert of the commit that started it", "reason", why)
	body := "bosun reverted this commit automatically: " + why
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RevertTimeout)
	newSHA, rerr := c.cfg.Reverter.Revert(rctx, sha, body)
	cancel()

	rb := &state.Rollback{Object: obj, Reason: why}
	att := state.Attempt{Commit: info, Time: c.cfg.Clock.Now().UTC(), Result: state.ResultRolledBack, RolledBack: rb}
	if rerr != nil {
		rec.State, rec.Error = StateFailed, rerr.Error()
		rb.Error = rerr.Error()
		att.Message = fmt.Sprintf("automatic rollback of %s failed: %v; roll back by hand with: bosun rollback %s", info.Short(), rerr, info.Short())
		log.Error("could not push the automatic revert; not trying again: roll back by hand with bosun rollback", "err", rerr)
		c.cfg.Recorder.Eventf(events.Ref(d), corev1.EventTypeWarning, ReasonRollbackFailed,
			"Rollout failed (%s) but the revert of commit %s could not be pushed: %v; roll back by hand with: bosun rollback %s",
			why, info.Short(), rerr, info.Short())
	} else {
		rec.State, rec.RevertSHA = StateReverted, newSHA
		rb.RevertSHA = newSHA
		att.Message = fmt.Sprintf("reverted automatically by %s: %s", short(newSHA), why)
		log.Warn("pushed an automatic revert", "revert", short(newSHA))
		c.cfg.Recorder.Eventf(events.Ref(d), corev1.EventTypeNormal, ReasonRolledBack,
			"Rollout failed (%s): reverted commit %s %q with commit %s", why, info.Short(), info.Subject, short(newSHA))
	}
	// The result is recorded even when ctx ended meanwhile.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer wcancel()
	txn := c.cfg.Store.Txn().Fence(c.cfg.Fence)
	txn.PutRaw(KeyPrefix+sha, encode(rec))
	at := records.Audited(txn, c.cfg.Audit)
	records.AppendInTxn(at, att)
	if _, err := at.Commit(wctx); err != nil {
		// Not retried: the claim stays and keeps this commit from being reverted twice.
		log.Error("could not record the automatic rollback", "err", err)
		return reconcile.Terminal(fmt.Errorf("autorollback: record revert of %s: %w", short(sha), err))
	}
	if rerr == nil && c.cfg.OnRevert != nil {
		c.cfg.OnRevert(newSHA)
	}
	return nil
}

// warnOnce logs a failed rollout that is left alone, once per commit.
func (c *Controller) warnOnce(log *slog.Logger, sha, msg string, args ...any) {
	c.mu.Lock()
	seen := c.warned[sha]
	c.warned[sha] = true
	c.mu.Unlock()
	if !seen {
		log.Warn(msg, args...)
	}
}

// claim creates the Record of rec.SHA if none exists and the fence holds,
// and reports whether it did. A lost fence is an error wrapping
// store.ErrFenced.
func (c *Controller) claim(ctx context.Context, rec Record) (bool, error) {
	key := KeyPrefix + rec.SHA
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}
	if !c.cfg.Fence.IsZero() {
		cmps = append(cmps, c.cfg.Fence.Cmp())
	}
	resp, err := c.cfg.Store.Client().Txn(ctx).If(cmps...).Then(clientv3.OpPut(key, string(encode(rec)))).Commit()
	if err != nil {
		return false, fmt.Errorf("autorollback: claim %s: %w", short(rec.SHA), err)
	}
	if !resp.Succeeded {
		// A fence lost now never held again, and one held now held then.
		if err := c.cfg.Fence.Check(ctx, c.cfg.Store.Client()); err != nil {
			return false, fmt.Errorf("autorollback: claim %s: %w", short(rec.SHA), err)
		}
	}
	return resp.Succeeded, nil
}

// commitInfo finds sha in the sync history (its applied entry).
func (c *Controller) commitInfo(ctx context.Context, sha string) (state.CommitInfo, bool, error) {
	h, err := records.ReadHistory(ctx, c.cfg.Store, 0)
	if err != nil {
		return state.CommitInfo{}, false, fmt.Errorf("autorollback: %w", err)
	}
	for _, a := range h {
		if a.Commit.SHA == sha && a.Result == state.ResultApplied {
			return a.Commit, true, nil
		}
	}
	return state.CommitInfo{}, false, nil
}

func encode(r Record) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("autorollback: encode record: %v", err)) // plain data
	}
	return b
}

func short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}
