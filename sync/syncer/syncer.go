package syncer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/audit"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/podsecurity"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/sync/apply"
	"github.com/bosun-dev/bosun/sync/gitsource"
	"github.com/bosun-dev/bosun/sync/state"
)

// ElectionName is the etcd election the sync loop runs under when several
// servers share an etcd: cmd/bosun runs RunFenced under
// leader.RunFenced(..., ElectionName, ...).
const ElectionName = "sync"

// LeaseTTL is the TTL, in seconds, of the sync leader's etcd lease: how long
// the commits of a crashed leader wait for another server. It is etcd's
// smallest with its default election timeout (1 s: a lease must outlive
// 1.5 elections), because a new etcd leader renews every lease to its full
// TTL: when the crashed server led etcd too, the next commit is synced
// about 1–2 s (etcd election) + 1 s + LeaseTTL after the crash. A leader
// that cannot renew for that long (starved of CPU) loses its term, and its
// writes are fenced: the cost is a resync by the next leader, never a
// stale write.
const LeaseTTL = 2

// Source is the Git side of the loop; *gitsource.Source implements it.
type Source interface {
	// Head returns the SHA of the tracked branch's head, cheaply.
	Head(ctx context.Context) (string, error)
	// Fetch returns the head commit with its tree.
	Fetch(ctx context.Context) (gitsource.Commit, error)
}

// Config configures a Syncer.
type Config struct {
	// Source is the Git branch to follow (required).
	Source Source
	// Store receives the desired state and the sync records (required).
	Store *store.Store
	// Repo, Branch and Path describe the source in the status.
	Repo, Branch, Path string
	// Interval is the poll period (default 30s).
	Interval time.Duration
	// Resync re-applies the synced commit this often even when the branch
	// did not move, repairing drift in the store (default 10m). The
	// replicas a HorizontalPodAutoscaler set are not drift (sync/apply
	// keeps them).
	Resync time.Duration
	// AllowEmpty lets a commit without manifests prune everything.
	AllowEmpty bool
	// VerifySignatures, when not nil, is the keyring of trusted OpenPGP keys
	// and SSH allowed signers (--verify-signatures; see
	// gitsource.LoadKeys): a commit that is
	// unsigned, signed by a key not in it, or whose signature does not verify
	// is rejected whole, like one with invalid manifests. Nil means commits
	// are not checked.
	VerifySignatures *gitsource.Keyring
	// Limits bound what a commit may contain.
	Limits manifests.Limits
	// ServiceCIDRs are the ranges of Service clusterIPs (--service-cidr): a
	// commit with a clusterIP outside them is rejected. Empty: not checked.
	ServiceCIDRs []netip.Prefix
	// CreateNamespaces creates the namespaces a commit's objects use that
	// neither the commit nor the cluster has (--create-namespaces, Argo CD's
	// CreateNamespace), as plain Namespaces not managed by Git, which
	// pruning never deletes. Without it such a commit is rejected.
	CreateNamespaces bool
	// PodSecurity, when not nil, checks every pod and pod template of a
	// commit against the Pod Security level of its namespace (the labels
	// of the commit's Namespace, else the live one's, else the server's
	// default): an object the enforce level refuses rejects the commit,
	// one failing the warn level is a warning.
	PodSecurity *podsecurity.Policy
	// Audit, when not nil, receives one audit event per history entry the
	// sync writes (applied, rejected, waiting, failed), after its
	// transaction committed.
	Audit *audit.Logger
	// MinBackoff and MaxBackoff bound the retry delay after a failure
	// (defaults 1s and 5m).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the loop's log; nil discards it.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// AllowHistoryRewrite applies a head that does not descend from the
	// synced commit (a force-push) like any other (--allow-history-rewrite);
	// by default it is rejected until `bosun accept-rewrite` accepts it.
	AllowHistoryRewrite bool
	// Manual is the manual sync policy (--sync-policy manual): a valid
	// commit waits until `bosun sync` approves it (state.Control.Approved).
	Manual bool
	// FreezeBlocksRollback holds rollbacks during a freeze too
	// (--freeze-blocks-rollback); by default a revert of the synced commit
	// (`bosun rollback`, automatic rollback) is applied during a freeze.
	FreezeBlocksRollback bool
	// Metrics, when not nil, receives the loop's metrics (bosun_sync_total,
	// bosun_sync_duration_seconds, bosun_sync_objects_total,
	// bosun_sync_last_applied_timestamp_seconds).
	Metrics prometheus.Registerer
	// Renderers render the directories of a commit that are not plain
	// manifests (Kustomize overlays, Helm charts); see manifests.Renderer.
	Renderers []manifests.Renderer
	// Decrypter decrypts SOPS-encrypted files of a commit; nil rejects a
	// commit with one.
	Decrypter manifests.Decrypter
	// RequireEncryptedSecrets rejects a commit with a Secret that is not
	// SOPS-encrypted (--require-encrypted-secrets); by default it is a
	// warning.
	RequireEncryptedSecrets bool
	// Recorder receives the Events of sync: Synced or Pruned on each object
	// a commit changes, Rejected on the live objects of the files of a
	// rejected commit. nil records none.
	Recorder *events.Recorder
}

// Syncer is the sync loop. Create it with New.
type Syncer struct {
	cfg     Config
	applier *apply.Applier
	trigger chan struct{}
	metrics *syncMetrics // nil without Config.Metrics
	recheck *time.Timer  // wakes the loop when a freeze ends; guarded by mu

	mu        gosync.Mutex
	lastSHA   string // last commit applied or rejected
	lastFull  time.Time
	attempted bool
	lastErr   error
	running   int // loops (Run, RunFenced) running in this process
}

// New returns a Syncer for cfg, filling in defaults.
func New(cfg Config) *Syncer {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 10 * time.Minute
	}
	defaults.Positive(&cfg.MinBackoff, time.Second)
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	defaults.Logger(&cfg.Logger)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var m *syncMetrics
	if cfg.Metrics != nil {
		m = newSyncMetrics(cfg.Metrics)
	}
	return &Syncer{
		cfg:     cfg,
		metrics: m,
		applier: apply.New(cfg.Store, cfg.Logger).WithClock(cfg.Now).WithRecorder(cfg.Recorder).WithAudit(cfg.Audit),
		trigger: make(chan struct{}, 1),
	}
}

// Trigger asks the loop to look at the branch now. It never blocks;
// triggers that arrive while a sync runs are folded into one more sync.
func (s *Syncer) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Ready reports nil once a sync attempt of this Syncer has reached Git and
// the store, whether it applied or rejected the commit, and before that an
// error saying what the loop waits for (with the last failure, e.g. Git
// unreachable). While no loop of this Syncer runs and it has not tried to
// sync (a standby server: another one leads the sync election), it is ready
// when the store holds a sync status, that is when some server has synced.
func (s *Syncer) Ready(ctx context.Context) error {
	s.mu.Lock()
	attempted, running, lastErr := s.attempted, s.running > 0, s.lastErr
	s.mu.Unlock()
	switch {
	case attempted:
		return nil
	case lastErr != nil:
		return fmt.Errorf("first sync has not succeeded yet: %w", lastErr)
	case running:
		return errors.New("first sync has not finished yet")
	}
	if _, err := records.ReadStatus(ctx, s.cfg.Store); errors.Is(err, api.ErrNotFound) {
		return errors.New("no server has synced yet (this one is a standby of the sync loop)")
	} else if err != nil {
		return fmt.Errorf("syncer: standby: %w", err)
	}
	return nil
}

// Run syncs at once, then on every trigger and every Interval, until ctx
// ends. After a failure it retries with exponential backoff instead of
// waiting for the interval; every put of TriggerKey (RemoteTrigger) is a
// trigger too. It returns nil when ctx ends. Only one process
// may run it against a store at a time; servers sharing an etcd use
// RunFenced under leader election instead.
func (s *Syncer) Run(ctx context.Context) error {
	return s.run(ctx, store.Fence{})
}

// RunFenced is Run for one term of leadership of the sync election: every
// write of the loop (a commit's transaction, the status and history records)
// is conditional on fence, so that none lands once the term ended, even from
// a process paused past its lease. It starts with a full sync of the branch
// head, whatever an earlier term of this Syncer handled (another leader may
// have synced meanwhile). It returns nil when ctx ends, and an error
// wrapping store.ErrFenced as soon as a write was refused because fence is
// lost: the loop stops, and the next leader syncs. While it runs, as while
// Run runs, every put of TriggerKey (RemoteTrigger: a webhook on any
// server) calls Trigger.
func (s *Syncer) RunFenced(ctx context.Context, fence store.Fence) error {
	s.mu.Lock()
	s.lastSHA, s.lastFull = "", time.Time{}
	s.mu.Unlock()
	s.cfg.Logger.Info("leading the sync loop: syncing the branch head", "election", fence.Election, "key", fence.Key)
	return s.run(ctx, fence)
}

// run is the loop of Run and RunFenced. While it runs, every put of
// TriggerKey calls Trigger.
func (s *Syncer) run(ctx context.Context, fence store.Fence) error {
	rev := s.triggerRevision(ctx) // before the first sync: no trigger after it is missed
	wctx, cancel := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.watchTriggers(wctx, rev)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()
	s.mu.Lock()
	s.running++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running--
		s.lastErr = nil // a standby now: readiness is the leader's
		s.mu.Unlock()
	}()
	backoff := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.trigger:
		case <-timer.C:
		}
		_, err := s.syncOnceFenced(ctx, fence)
		if errors.Is(err, store.ErrFenced) {
			s.cfg.Logger.Warn("sync leadership lost: stopping the sync loop; another server syncs now", "err", err)
			return fmt.Errorf("syncer: %w", err)
		}
		next := s.cfg.Interval
		if err != nil && ctx.Err() == nil {
			backoff = min(max(backoff*2, s.cfg.MinBackoff), s.cfg.MaxBackoff)
			next = backoff
			s.cfg.Logger.Warn("sync failed; keeping the last good commit and retrying", "retry_in", next, "err", err)
		} else {
			backoff = 0
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// SyncOnce looks at the branch head and, when it is a commit not handled
// yet (or the resync period has passed), validates and applies it. A
// rejected commit is not an error: the returned attempt says why. Errors
// are failures to reach Git or the store; they are recorded in the status
// when the store can be reached. Its writes carry no fence (see RunFenced).
func (s *Syncer) SyncOnce(ctx context.Context) (state.Attempt, error) {
	return s.syncOnceFenced(ctx, store.Fence{})
}

// syncOnceFenced is SyncOnce with every write conditional on fence.
func (s *Syncer) syncOnceFenced(ctx context.Context, fence store.Fence) (state.Attempt, error) {
	began := time.Now()
	att, err := s.syncOnce(ctx, fence)
	s.metrics.observe(att, err, time.Since(began))
	s.mu.Lock()
	s.lastErr = err
	if err == nil {
		s.attempted = true
	}
	s.mu.Unlock()
	return att, err
}

func (s *Syncer) syncOnce(ctx context.Context, fence store.Fence) (state.Attempt, error) {
	now := s.cfg.Now()
	sha, err := s.cfg.Source.Head(ctx)
	if err != nil {
		if errors.Is(err, gitsource.ErrBranchGone) {
			// Not a fetch that may work next time: the branch the cluster
			// follows is gone, and the cluster keeps what it runs.
			msg := strings.TrimPrefix(err.Error(), "gitsource: ")
			if base, serr := s.status(ctx); serr == nil && base.Synced != nil {
				msg += "; still running commit " + base.Synced.Commit.Short()
			}
			return s.fail(ctx, fence, state.CommitInfo{}, fmt.Errorf("%s: %w", msg, gitsource.ErrBranchGone))
		}
		return s.fail(ctx, fence, state.CommitInfo{}, fmt.Errorf("read branch head: %w", err))
	}
	s.mu.Lock()
	unchanged := sha == s.lastSHA && now.Sub(s.lastFull) < s.cfg.Resync
	s.mu.Unlock()
	if unchanged {
		return state.Attempt{}, nil
	}

	commit, err := s.cfg.Source.Fetch(ctx)
	if err != nil {
		return s.fail(ctx, fence, state.CommitInfo{SHA: sha}, fmt.Errorf("fetch: %w", err))
	}
	info := state.CommitInfo{SHA: commit.SHA, Author: commit.Author, Subject: commit.Subject, Time: commit.Time}
	log := s.cfg.Logger.With("commit", info.Short())
	log.Debug("syncing commit") // with "applied commit", brackets a sync in the log

	var refused error
	if s.cfg.VerifySignatures != nil {
		info.SignedBy, info.Signature, refused = s.verify(commit, now)
	}

	if refused != nil {
		// Not even decoded: nothing of an untrusted commit is used.
		base, err := s.status(ctx)
		if err != nil {
			return state.Attempt{}, err
		}
		msg := refused.Error()
		if base.Synced != nil {
			msg += "; still running commit " + base.Synced.Commit.Short()
		}
		log.Warn("commit rejected: "+msg, "signature", info.Signature)
		return s.reject(ctx, fence, base, state.Attempt{Commit: info, Time: now, Result: state.ResultRejected, Message: msg})
	}

	base, err := s.status(ctx)
	if err != nil {
		return state.Attempt{}, err
	}
	if why, err := s.rewritten(ctx, base, commit); err != nil {
		return s.fail(ctx, fence, info, err)
	} else if why != "" {
		// Not marked handled: an accept-rewrite applies it on the next look.
		att := state.Attempt{Commit: info, Time: now, Result: state.ResultRejected, Message: why}
		again := repeatsLast(base, att)
		if !again {
			log.Warn("commit rejected: " + why)
		}
		return att, s.record(ctx, fence, base, att, !again)
	}
	res, note, err := s.load(ctx, commit)
	if err != nil {
		return s.fail(ctx, fence, info, fmt.Errorf("read commit %s: %w", info.Short(), err))
	}

	if errs := res.Problems.Errors(); len(errs) > 0 {
		msg := fmt.Sprintf("%d invalid manifest problem(s); nothing was applied", len(errs))
		if base.Synced != nil {
			msg += "; still running commit " + base.Synced.Commit.Short()
		}
		log.Warn("commit rejected: "+msg, "problems", len(errs))
		for _, p := range errs {
			log.Warn(p.String())
		}
		att, err := s.reject(ctx, fence, base, state.Attempt{Commit: info, Time: now, Result: state.ResultRejected, Message: msg, Problems: res.Problems})
		if err == nil && !rejectedBefore(base, att) {
			if rerr := s.applier.RecordRejected(ctx, info, errs); rerr != nil {
				log.Debug("could not record the rejection's Events", "err", rerr)
			}
		}
		return att, err
	}

	if why, until, err := s.held(ctx, base, commit, now); err != nil {
		return s.fail(ctx, fence, info, err)
	} else if why != "" {
		msg := why
		if base.Synced != nil {
			msg += "; still running commit " + base.Synced.Commit.Short()
		}
		s.recheckAt(until, now)
		att := state.Attempt{Commit: info, Time: now, Result: state.ResultWaiting, Message: msg, Problems: res.Problems.Warnings()}
		again := repeatsLast(base, att)
		if !again {
			log.Info("commit waiting: " + msg)
		}
		return att, s.record(ctx, fence, base, att, !again)
	}

	if err := s.createNamespaces(ctx, fence, res.Objects); err != nil {
		if errors.Is(err, store.ErrFenced) {
			return state.Attempt{}, fmt.Errorf("syncer: %w", err)
		}
		return s.fail(ctx, fence, info, err)
	}
	att, err := s.applier.Apply(ctx, apply.Input{
		Commit:     info,
		Objects:    res.Objects,
		Warnings:   res.Problems.Warnings(),
		Windows:    res.SyncWindows,
		AllowEmpty: s.cfg.AllowEmpty,
		Note:       note,
		Status:     base,
		Fence:      fence,
	})
	switch {
	case errors.Is(err, apply.ErrEmptyCommit), errors.Is(err, api.ErrTooLarge):
		// Retrying cannot help: the commit itself must change.
		log.Warn("commit rejected", "err", err)
		return s.reject(ctx, fence, base, state.Attempt{Commit: info, Time: now, Result: state.ResultRejected, Message: err.Error(), Problems: res.Problems})
	case errors.Is(err, store.ErrFenced):
		return state.Attempt{}, fmt.Errorf("syncer: %w", err) // not recorded: the new leader records
	case err != nil:
		return s.fail(ctx, fence, info, err)
	}
	for _, w := range res.Problems.Warnings() {
		log.Warn(w.String())
	}
	s.handled(commit.SHA, now)
	return att, nil
}

// verify checks commit's signature against the keyring. It returns who
// signed (good signatures only), the outcome for the status, and, when the
// commit must be refused, why.
func (s *Syncer) verify(commit gitsource.Commit, now time.Time) (signedBy, outcome string, refused error) {
	who, err := commit.VerifyKeys(s.cfg.VerifySignatures, now)
	switch {
	case err == nil:
		return who.String(), "good signature from " + who.String(), nil
	case errors.Is(err, gitsource.ErrUnsigned):
		return "", "unsigned", errors.New("commit is not signed and --verify-signatures requires a signature by a trusted key; nothing was applied")
	case errors.Is(err, gitsource.ErrUnknownKey):
		return "", "signed by unknown key " + who.KeyID, fmt.Errorf("commit is signed by key %s, which is not in the --verify-signatures keyring; nothing was applied", who.KeyID)
	default:
		return "", "bad signature", fmt.Errorf("commit signature does not verify (%v); nothing was applied", err)
	}
}

// load decodes and validates the commit's manifests under the configured
// path, against the live Namespaces and Services and the service CIDRs. A
// path the commit does not have holds no manifests (removing every file
// removes the directory from Git); note then says so.
func (s *Syncer) load(ctx context.Context, commit gitsource.Commit) (*manifests.Result, string, error) {
	path := strings.Trim(s.cfg.Path, "/")
	if path != "" && path != "." {
		if _, err := fs.Stat(commit.Tree, path); errors.Is(err, fs.ErrNotExist) {
			return &manifests.Result{}, fmt.Sprintf("the commit has no directory %q: no manifests", path), nil
		}
	}
	live, nsLabels, err := s.liveState(ctx)
	if err != nil {
		return nil, "", err
	}
	res, err := manifests.Load(commit.Tree, manifests.Options{Path: s.cfg.Path, Limits: s.cfg.Limits,
		ServiceCIDRs: s.cfg.ServiceCIDRs, Live: live, Renderers: s.cfg.Renderers, Decrypter: s.cfg.Decrypter,
		RequireEncryptedSecrets: s.cfg.RequireEncryptedSecrets})
	if err != nil || s.cfg.PodSecurity == nil {
		return res, "", err
	}
	// Pod Security: the commit's Namespace labels win over the live ones,
	// as they will once it is applied.
	for _, o := range res.Objects {
		if ns, ok := o.Obj.(*corev1.Namespace); ok {
			nsLabels[ns.Name] = ns.Labels
		}
	}
	res.Problems = append(res.Problems, s.cfg.PodSecurity.CheckObjects(res.Objects, func(ns string) map[string]string { return nsLabels[ns] })...)
	res.Problems.Sort()
	return res, "", nil
}

// liveNamespaces returns the cluster's Namespaces: each one's labels by
// name.
func (s *Syncer) liveNamespaces(ctx context.Context) (map[string]map[string]string, error) {
	nsRes, _ := api.ResourceFor(corev1.SchemeGroupVersion.WithKind("Namespace"))
	namespaces, _, err := s.cfg.Store.List(ctx, nsRes, "", store.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list live namespaces: %w", err)
	}
	labels := make(map[string]map[string]string, len(namespaces))
	for _, ns := range namespaces {
		labels[ns.GetName()] = ns.GetLabels()
	}
	return labels, nil
}

// liveState reads what validation needs from the cluster: the names of
// the Namespaces (and their labels, for Pod Security), and the Services
// that sync did not write. Services sync wrote are either in the commit
// (the commit replaces them) or pruned by the same transaction that
// applies it, so their allocations are free.
func (s *Syncer) liveState(ctx context.Context) (*manifests.LiveState, map[string]map[string]string, error) {
	labels, err := s.liveNamespaces(ctx)
	if err != nil {
		return nil, nil, err
	}
	live := &manifests.LiveState{Namespaces: make(map[string]bool, len(labels)), CreateNamespaces: s.cfg.CreateNamespaces}
	for name := range labels {
		live.Namespaces[name] = true
	}
	svcRes, _ := api.ResourceFor(corev1.SchemeGroupVersion.WithKind("Service"))
	services, _, err := s.cfg.Store.List(ctx, svcRes, "", store.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list live services: %w", err)
	}
	for _, o := range services {
		svc, ok := o.(*corev1.Service)
		if !ok || svc.Labels[api.LabelManagedBy] == api.ManagedByValue {
			continue
		}
		live.Services = append(live.Services, svc)
	}
	return live, labels, nil
}

// createNamespaces creates, with --create-namespaces, the namespaces objs
// use that neither objs define nor the cluster has: plain Namespaces
// without sync's label, so pruning never deletes them. One that appears
// meanwhile is left as it is.
func (s *Syncer) createNamespaces(ctx context.Context, fence store.Fence, objs []manifests.Object) error {
	if !s.cfg.CreateNamespaces {
		return nil
	}
	labels, err := s.liveNamespaces(ctx)
	if err != nil {
		return err
	}
	live := make(map[string]bool, len(labels))
	for name := range labels {
		live[name] = true
	}
	defined := map[string]bool{}
	for _, o := range objs {
		if _, ok := o.Obj.(*corev1.Namespace); ok {
			defined[o.Obj.GetName()] = true
		}
	}
	for _, name := range missingNamespaces(objs, defined, live) {
		ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: name}}
		txn := s.cfg.Store.Txn().Fence(fence)
		if err := txn.Create(ns); err != nil {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
		switch _, err := txn.Commit(ctx); {
		case err == nil:
			s.cfg.Logger.Info("created namespace the commit uses (--create-namespaces); Git does not manage it", "namespace", name)
		case errors.Is(err, api.ErrConflict), errors.Is(err, api.ErrExists):
			// Created meanwhile: it exists, which is all the commit needs.
		default:
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	return nil
}

// missingNamespaces returns, sorted, the namespaces of namespaced objects
// in objs that are neither defined nor live.
func missingNamespaces(objs []manifests.Object, defined, live map[string]bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, o := range objs {
		ns := o.Obj.GetNamespace()
		if _, cluster := o.Obj.(*corev1.Namespace); cluster || ns == "" || defined[ns] || live[ns] || seen[ns] {
			continue
		}
		seen[ns] = true
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

func (s *Syncer) handled(sha string, now time.Time) {
	s.mu.Lock()
	s.lastSHA = sha
	s.lastFull = now
	s.mu.Unlock()
}

// status reads the stored status, or a fresh one before the first sync.
func (s *Syncer) status(ctx context.Context) (state.Status, error) {
	st, err := records.ReadStatus(ctx, s.cfg.Store)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		return st, fmt.Errorf("syncer: %w", err)
	}
	st.Repo, st.Branch, st.Path = s.cfg.Repo, s.cfg.Branch, s.cfg.Path
	return st, nil
}

// reject records a commit that cannot be applied as it is. The commit is
// not tried again until the branch moves.
func (s *Syncer) reject(ctx context.Context, fence store.Fence, base state.Status, att state.Attempt) (state.Attempt, error) {
	// A commit rejected again (at a resync) gets one history entry, not one
	// per resync.
	if err := s.record(ctx, fence, base, att, !rejectedBefore(base, att)); err != nil {
		return att, err
	}
	s.handled(att.Commit.SHA, att.Time)
	return att, nil
}

// held says why commit must wait instead of being applied ("" when it
// need not), and when a freeze holding it ends (zero: no end known).
func (s *Syncer) held(ctx context.Context, base state.Status, commit gitsource.Commit, now time.Time) (string, time.Time, error) {
	ctl, err := records.ReadControl(ctx, s.cfg.Store)
	if err != nil {
		return "", time.Time{}, err
	}
	if h := ctl.Suspended; h != nil {
		return fmt.Sprintf("waiting: syncing is suspended by %s since %s%s (bosun resume)", h.By, h.Since.UTC().Format(time.RFC3339), reasonOf(h)), time.Time{}, nil
	}
	if h := ctl.Frozen; h.Active(now) && (s.cfg.FreezeBlocksRollback || !rollbackOf(commit, base)) {
		until := "until bosun unfreeze"
		if !h.Until.IsZero() {
			until = "until " + h.Until.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("waiting: frozen %s by %s%s", until, h.By, reasonOf(h)), h.Until, nil
	}
	if why, change := windowsHold(base.Windows, now); why != "" && (s.cfg.FreezeBlocksRollback || !rollbackOf(commit, base)) {
		return why, change, nil
	}
	if s.cfg.Manual && ctl.Approved != commit.SHA {
		return "waiting: the sync policy is manual; apply it with bosun sync", time.Time{}, nil
	}
	return "", time.Time{}, nil
}

// windowsHold says why the synced commit's sync windows hold commits at
// now ("" when they do not), and when that changes: a deny window is
// open, or there are allow windows and none is open.
func windowsHold(ws []manifests.SyncWindowAt, now time.Time) (string, time.Time) {
	for _, w := range ws {
		if open, change := w.Window.Open(now); w.Window.Spec.Kind == "deny" && open {
			return fmt.Sprintf("waiting: sync window %s is open until %s (%s:%d)",
				w.Window.Describe(), change.UTC().Format(time.RFC3339), w.File, w.Line), change
		}
	}
	var names []string
	next := time.Time{}
	for _, w := range ws {
		if w.Window.Spec.Kind != "allow" {
			continue
		}
		open, change := w.Window.Open(now)
		if open {
			return "", time.Time{}
		}
		names = append(names, w.Window.Describe())
		if next.IsZero() || change.Before(next) {
			next = change
		}
	}
	if len(names) > 0 {
		return fmt.Sprintf("waiting: no allow sync window is open (%s); the next opens at %s",
			strings.Join(names, "; "), next.UTC().Format(time.RFC3339)), next
	}
	return "", time.Time{}
}

func reasonOf(h *state.Hold) string {
	if h.Reason == "" {
		return ""
	}
	return ": " + h.Reason
}

// rollbackOf reports whether commit only undoes: a revert ("This reverts
// commit ...", as bosun rollback and automatic rollback write them) made
// directly on the synced commit, so that applying it applies nothing that
// waits.
func rollbackOf(commit gitsource.Commit, base state.Status) bool {
	return base.Synced != nil && len(commit.Parents) == 1 && commit.Parents[0] == base.Synced.Commit.SHA &&
		strings.Contains(commit.Message, "\nThis reverts commit ")
}

// recheckAt makes the loop look again just after until (when a freeze
// ends), measured from now on the loop's clock; zero does nothing.
func (s *Syncer) recheckAt(until, now time.Time) {
	if until.IsZero() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recheck != nil {
		s.recheck.Stop()
	}
	s.recheck = time.AfterFunc(until.Sub(now)+10*time.Millisecond, s.Trigger)
}

// ancestry is what a Source may offer to tell a force-push
// (*gitsource.Source does).
type ancestry interface {
	IsAncestor(ctx context.Context, ancestor, descendant string) (bool, error)
}

// rewritten says why commit must be refused as a rewrite of history ("":
// it need not): it does not descend from the synced commit, and neither
// --allow-history-rewrite nor `bosun accept-rewrite` accepted it.
func (s *Syncer) rewritten(ctx context.Context, base state.Status, commit gitsource.Commit) (string, error) {
	a, ok := s.cfg.Source.(ancestry)
	if !ok || s.cfg.AllowHistoryRewrite || base.Synced == nil || base.Synced.Commit.SHA == commit.SHA {
		return "", nil
	}
	desc, err := a.IsAncestor(ctx, base.Synced.Commit.SHA, commit.SHA)
	if err != nil || desc {
		return "", err
	}
	ctl, err := records.ReadControl(ctx, s.cfg.Store)
	if err != nil {
		return "", err
	}
	if ctl.AcceptedRewrite == commit.SHA {
		return "", nil
	}
	return fmt.Sprintf("history rewritten: the synced commit %s is not an ancestor of the new head %s (a force-push?); nothing was applied. Accept it with bosun accept-rewrite, or fix the branch",
		base.Synced.Commit.Short(), state.CommitInfo{SHA: commit.SHA}.Short()), nil
}

// repeatsLast reports whether att says again what the last attempt of
// base said: a held or refused commit looked at again, which gets no new
// history entry.
func repeatsLast(base state.Status, att state.Attempt) bool {
	return rejectedBefore(base, att) && base.LastAttempt.Message == att.Message
}

// rejectedBefore reports whether att repeats the last attempt of base (the
// same commit rejected again at a resync).
func rejectedBefore(base state.Status, att state.Attempt) bool {
	return base.LastAttempt != nil && base.LastAttempt.Commit.SHA == att.Commit.SHA && base.LastAttempt.Result == att.Result
}

// fail records an attempt that could not be completed (Git or etcd
// unreachable) and returns cause so that Run backs off; when the record was
// refused because fence is lost, it returns that error instead.
func (s *Syncer) fail(ctx context.Context, fence store.Fence, info state.CommitInfo, cause error) (state.Attempt, error) {
	att := state.Attempt{Commit: info, Time: s.cfg.Now(), Result: state.ResultFailed, Message: cause.Error()}
	base, err := s.status(ctx)
	if err == nil {
		// Repeated failures overwrite the status but add one history entry
		// only when the reason changes.
		same := base.LastAttempt != nil && base.LastAttempt.Result == state.ResultFailed &&
			strings.EqualFold(base.LastAttempt.Message, att.Message)
		err = s.record(ctx, fence, base, att, !same)
	}
	if errors.Is(err, store.ErrFenced) {
		return att, err
	}
	if err != nil {
		s.cfg.Logger.Debug("could not record failed sync", "err", err)
	}
	return att, fmt.Errorf("syncer: %w", cause)
}

func (s *Syncer) record(ctx context.Context, fence store.Fence, base state.Status, att state.Attempt, history bool) error {
	base.LastAttempt = &att
	txn := records.Audited(s.cfg.Store.Txn().Fence(fence), s.cfg.Audit)
	records.SetStatusInTxn(txn, base)
	if history {
		records.AppendInTxn(txn, att)
	}
	if _, err := txn.Commit(ctx); err != nil {
		return fmt.Errorf("syncer: record %s attempt: %w", att.Result, err)
	}
	return nil
}
