package apply

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/audit"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/sync/state"
)

// maxTries bounds how often Apply re-reads and retries after a concurrent
// write made its transaction fail.
const maxTries = 8

// preservedAnnotationPrefixes are annotations that controllers set on Git
// objects (as Kubernetes' Deployment controller does, or the volume binder
// and scheduler on claims and volumes); sync keeps them.
var preservedAnnotationPrefixes = []string{"deployment.kubernetes.io/", "pv.kubernetes.io/", "volume.kubernetes.io/",
	"volume.beta.kubernetes.io/"}

// Applier writes commits into a store.
type Applier struct {
	store  *store.Store
	logger *slog.Logger
	now    func() time.Time
	rec    *events.Recorder
	audit  *audit.Logger
}

// New returns an Applier writing to s. A nil logger discards logs.
func New(s *store.Store, logger *slog.Logger) *Applier {
	defaults.Logger(&logger)
	return &Applier{store: s, logger: logger, now: time.Now}
}

// WithClock returns a copy of a that reads the time from now.
func (a *Applier) WithClock(now func() time.Time) *Applier {
	c := *a
	c.now = now
	return &c
}

// WithRecorder returns a copy of a that records an Event on every object
// a commit creates, updates or prunes (reason Synced or Pruned, naming the
// commit and the file), and on the live objects of the files of a rejected
// commit (Rejected, with the problem's file:line).
func (a *Applier) WithRecorder(r *events.Recorder) *Applier {
	c := *a
	c.rec = r
	return &c
}

// WithAudit returns a copy of a that writes one audit event per applied
// commit (package audit), once its transaction committed.
func (a *Applier) WithAudit(l *audit.Logger) *Applier {
	c := *a
	c.audit = l
	return &c
}

// Reasons of sync's Events.
const (
	ReasonSynced   = "Synced"
	ReasonPruned   = "Pruned"
	ReasonRejected = "Rejected"
)

// Input is one commit to apply.
type Input struct {
	// Commit identifies the commit; its SHA goes into every written object's
	// bosun.dev/commit annotation.
	Commit state.CommitInfo
	// Objects are the commit's decoded and validated manifests.
	Objects []manifests.Object
	// Warnings are recorded with the attempt.
	Warnings manifests.Problems
	// AllowEmpty permits a commit without manifests to prune every object.
	AllowEmpty bool
	// Windows are the commit's sync windows, recorded in the status.
	Windows []manifests.SyncWindowAt
	// Note is recorded as the attempt's message (e.g. that the commit has
	// no manifests directory).
	Note string
	// Status is the status to record; Apply fills in Synced, LastAttempt
	// and Objects and keeps the rest (repository, branch, path).
	Status state.Status
	// Fence, when not zero, is the sync loop's leadership: the transaction
	// (objects, status and history) commits only while it is held, and
	// Apply fails with an error wrapping store.ErrFenced, writing nothing,
	// once it is lost.
	Fence store.Fence
}

// ErrEmptyCommit is returned when a commit defines no objects while objects
// from earlier commits exist and Input.AllowEmpty is false.
var ErrEmptyCommit = errors.New("commit has no manifests")

// Apply makes the commit's objects the desired state in one transaction and
// records the attempt in the sync status and history. It returns the
// attempt as recorded. On ErrEmptyCommit nothing is written; the caller
// records the rejection. Errors wrapping api.ErrTooLarge mean the commit
// exceeds etcd's limits; errors wrapping store.ErrFenced mean in.Fence is
// lost (another server syncs now) and are not retried.
func (a *Applier) Apply(ctx context.Context, in Input) (state.Attempt, error) {
	var lastErr error
	adopt := false
	for try := 0; try < maxTries; try++ {
		att, err := a.applyOnce(ctx, in, adopt)
		if !errors.Is(err, api.ErrConflict) {
			return att, err
		}
		// Someone wrote one of our keys between our read and our write, or
		// an object we want to create exists without bosun's label: read
		// again, this time checking the keys we are about to create.
		a.logger.Debug("apply: transaction conflicted; reading again", "commit", in.Commit.SHA, "try", try+1)
		lastErr = err
		adopt = true
	}
	return state.Attempt{}, fmt.Errorf("apply: commit %s: gave up after %d conflicting writes: %w", in.Commit.Short(), maxTries, lastErr)
}

func (a *Applier) applyOnce(ctx context.Context, in Input, adopt bool) (state.Attempt, error) {
	now := a.now().UTC()
	att := state.Attempt{Commit: in.Commit, Time: now, Result: state.ResultApplied, Problems: in.Warnings, Message: in.Note}

	live, err := a.listManaged(ctx)
	if err != nil {
		return att, err
	}
	if n := countManaged(live); len(in.Objects) == 0 && n > 0 && !in.AllowEmpty {
		return att, fmt.Errorf("apply: %w: refusing to prune the %d objects of earlier commits (start bosun with --allow-empty to allow it)", ErrEmptyCommit, n)
	}

	desired := make([]api.Object, 0, len(in.Objects))
	for _, m := range in.Objects {
		r, ok := api.ResourceFor(m.GVK())
		if !ok {
			return att, fmt.Errorf("apply: %s: %s is not a stored kind", m.File, m.GVK())
		}
		want, err := Desired(m, in.Commit.SHA)
		if err != nil {
			return att, err
		}
		desired = append(desired, want)
		key := a.store.Key(r, namespaceOf(r, want), want.GetName())
		if _, ok := live[key]; ok || !adopt {
			continue
		}
		// An object that bosun did not write may sit at this key (written
		// through the API before it came to Git): adopt it, so that the
		// plan updates it instead of creating it.
		obj := r.New()
		switch err := a.store.Get(ctx, want.GetNamespace(), want.GetName(), obj); {
		case err == nil:
			live[key] = obj
		case !errors.Is(err, api.ErrNotFound):
			return att, fmt.Errorf("apply: read %s: %w", key, err)
		}
	}
	liveObjs := make([]api.Object, 0, len(live))
	for _, o := range live {
		liveObjs = append(liveObjs, o)
	}
	changes, err := Plan(liveObjs, desired)
	if err != nil {
		return att, err
	}

	txn := a.store.Txn().Fence(in.Fence)
	for _, c := range changes {
		key := a.store.Key(c.Resource, c.Namespace, c.Name)
		switch c.Op {
		case Create:
			if err := txn.Create(c.Object); err != nil {
				return att, fmt.Errorf("apply: create %s: %w", key, err)
			}
			att.Created++
		case Update:
			if err := txn.Update(c.Live, c.Object); err != nil {
				return att, fmt.Errorf("apply: update %s: %w", key, err)
			}
			att.Updated++
		case Prune:
			if err := a.prune(txn, c); err != nil {
				return att, fmt.Errorf("apply: prune %s: %w", key, err)
			}
			att.Pruned++
		}
	}

	if last := in.Status.LastAttempt; att.Created+att.Updated+att.Pruned == 0 && last != nil &&
		last.Result == state.ResultApplied && last.Commit.SHA == in.Commit.SHA {
		// A resync that found nothing to change: the records already say
		// this commit is applied; writing them again would only grow the
		// history.
		return *last, nil
	}
	st := in.Status
	st.Synced = &att
	st.LastAttempt = &att
	st.Objects = len(in.Objects)
	st.Windows = in.Windows
	at := records.Audited(txn, a.audit)
	records.SetStatusInTxn(at, st)
	records.AppendInTxn(at, att)
	if _, err := at.Commit(ctx); err != nil {
		return att, fmt.Errorf("apply: commit %s: %w", in.Commit.Short(), err)
	}
	a.logger.Info("applied commit", "commit", in.Commit.Short(), "subject", in.Commit.Subject,
		"created", att.Created, "updated", att.Updated, "pruned", att.Pruned, "objects", len(in.Objects))
	a.recordChanges(in.Commit, changes)
	return att, nil
}

// recordChanges records the Event of each change of an applied commit.
func (a *Applier) recordChanges(commit state.CommitInfo, changes []Change) {
	if a.rec == nil {
		return
	}
	what := fmt.Sprintf("commit %s %q", commit.Short(), commit.Subject)
	for _, c := range changes {
		switch c.Op {
		case Create, Update:
			verb := "Created"
			if c.Op == Update {
				verb = "Updated"
			}
			msg := verb + " from " + what
			if src := c.Object.GetAnnotations()[api.AnnotationSource]; src != "" {
				msg += " (" + src + ")"
			}
			a.rec.Event(events.Ref(c.Object), corev1.EventTypeNormal, ReasonSynced, msg)
		case Prune:
			a.rec.Event(events.Ref(c.Live), corev1.EventTypeNormal, ReasonPruned, "Deleted: no longer in Git as of "+what)
		}
	}
}

// RecordRejected records a Rejected Event on each live object that came
// from a file of problems (errors of a rejected commit), naming the
// problem: the object keeps running as the last good commit left it, and
// kubectl describe says why the new one is not applied.
func (a *Applier) RecordRejected(ctx context.Context, commit state.CommitInfo, problems manifests.Problems) error {
	if a.rec == nil || len(problems) == 0 {
		return nil
	}
	byFile := map[string][]manifests.Problem{}
	for _, p := range problems {
		byFile[p.File] = append(byFile[p.File], p)
	}
	live, err := a.listManaged(ctx)
	if err != nil {
		return err
	}
	for _, o := range live {
		ann := o.GetAnnotations()
		file, _, _ := strings.Cut(ann[api.AnnotationSource], ":")
		ps := byFile[file]
		if by := ann[api.AnnotationRenderedBy]; by != "" && by != file {
			ps = append(ps, byFile[by]...)
		}
		for _, p := range ps {
			a.rec.Eventf(events.Ref(o), corev1.EventTypeWarning, ReasonRejected,
				"Commit %s %q was rejected, nothing of it applied: %s", commit.Short(), commit.Subject, p)
		}
	}
	return nil
}

// GitResources returns the store resources that Git manifests may define.
func GitResources() []api.Resource {
	var out []api.Resource
	for _, gvk := range manifests.Supported() {
		if r, ok := api.ResourceFor(gvk); ok {
			out = append(out, r)
		}
	}
	return out
}

// countManaged counts the objects of live that sync wrote (not the HPAs
// listManaged adds, which a commit never prunes).
func countManaged(live map[string]api.Object) int {
	n := 0
	for _, o := range live {
		if o.GetLabels()[api.LabelManagedBy] == api.ManagedByValue {
			n++
		}
	}
	return n
}

// prune adds c's deletion to txn: a pod running on a node terminates
// gracefully, as when deleted through the API (its agent removes it once
// stopped); anything else is removed.
func (a *Applier) prune(txn *store.Txn, c Change) error {
	if pod, ok := c.Live.(*corev1.Pod); ok {
		if next := pod.DeepCopy(); api.GracefulPodDelete(next, a.now(), nil) {
			return txn.Update(pod, next)
		}
	}
	return txn.Delete(c.Resource, c.Namespace, c.Name, c.Live.GetResourceVersion())
}

// terminating reports whether obj is a pod being stopped already: pruning it
// again would change nothing.
func terminating(obj api.Object) bool {
	_, isPod := obj.(*corev1.Pod)
	return isPod && obj.GetDeletionTimestamp() != nil
}

// listManaged returns every object that sync wrote and the
// HorizontalPodAutoscalers it did not write, by key, read at one revision.
func (a *Applier) listManaged(ctx context.Context) (map[string]api.Object, error) {
	rev, err := a.store.Revision(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply: read revision: %w", err)
	}
	sel := labels.SelectorFromSet(labels.Set{api.LabelManagedBy: api.ManagedByValue})
	live := make(map[string]api.Object)
	for _, r := range GitResources() {
		objs, _, err := a.store.List(ctx, r, "", store.ListOptions{Revision: rev, Selector: sel})
		if err != nil {
			return nil, fmt.Errorf("apply: list %s: %w", r.Name, err)
		}
		for _, o := range objs {
			live[a.store.Key(r, o.GetNamespace(), o.GetName())] = o
		}
	}
	// The HPAs made through the API decide which replicas sync keeps (see Plan).
	hpaRes, _ := api.Lookup("horizontalpodautoscalers")
	notManaged, err := labels.Parse(api.LabelManagedBy + "!=" + api.ManagedByValue)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	hpas, _, err := a.store.List(ctx, hpaRes, "", store.ListOptions{Revision: rev, Selector: notManaged})
	if err != nil {
		return nil, fmt.Errorf("apply: list %s: %w", hpaRes.Name, err)
	}
	for _, o := range hpas {
		live[a.store.Key(hpaRes, o.GetNamespace(), o.GetName())] = o
	}
	return live, nil
}

// Op is what applying a commit does to one object.
type Op string

// The operations of a Change.
const (
	// Create writes an object the live state lacks.
	Create Op = "create"
	// Update rewrites an object whose content, labels or annotations
	// (other than bosun.dev/commit) differ from the commit's.
	Update Op = "update"
	// Prune deletes an object sync wrote that the commit no longer defines.
	Prune Op = "prune"
)

// Change is one write that applying a commit makes. Plan computes them and
// Apply writes exactly them, in one transaction.
type Change struct {
	// Op is Create, Update or Prune.
	Op Op
	// Resource is the object's kind in the store.
	Resource api.Resource
	// Namespace ("" for cluster-scoped kinds) and Name identify the object.
	Namespace, Name string
	// Live is the object as stored before the commit; nil for Create.
	Live api.Object
	// Object is the object as Apply writes it: the desired object for
	// Create, and for Update the live object with the commit's labels,
	// annotations and content merged in (keeping status, system metadata,
	// allocations and the deployment.kubernetes.io/ annotations); nil for
	// Prune.
	Object api.Object
}

// ID returns "Kind namespace/name", or "Kind name" for cluster-scoped kinds.
func (c Change) ID() string {
	if c.Namespace == "" {
		return c.Resource.Kind + " " + c.Name
	}
	return c.Resource.Kind + " " + c.Namespace + "/" + c.Name
}

// Plan is the dry run of Apply: it compares the desired objects of a commit
// (made by Desired) with the live objects sync wrote before (labelled
// app.kubernetes.io/managed-by=bosun) and returns the writes applying the
// commit makes, without reading or writing anything. Creates and updates
// come in the order of desired, then prunes sorted by kind, namespace and
// name. Objects that would not change are left out. A namespaced desired
// object without a namespace is in "default", as the store puts it. Plan
// modifies neither slice's objects. Objects of kinds the store does not
// know are an error.
//
// HorizontalPodAutoscalers own the replicas of their targets: an update of
// a Deployment, StatefulSet, ReplicaSet or ReplicationController that an
// HPA scales keeps the live spec.replicas (a create uses Git's). The HPAs
// that count are the desired ones and the live ones sync did not write
// (made through the API, e.g. kubectl autoscale): live may hold those,
// without the managed-by label; they are never pruned.
//
// Apply builds its transaction from Plan's result, and `bosun diff`
// (sync/diff) shows Plan's result: what the diff shows is what a sync does.
func Plan(live, desired []api.Object) ([]Change, error) {
	type entry struct {
		r   api.Resource
		obj api.Object
	}
	key := func(r api.Resource, ns, name string) string { return r.Name + "/" + ns + "/" + name }
	hpas := autoscaled{}
	wanted := make(map[string]bool, len(desired))
	for _, o := range desired {
		if r, err := api.ResourceOf(o); err == nil {
			wanted[key(r, namespaceOf(r, o), o.GetName())] = true
			if isAutoscaler(o) {
				hpas.add(o, namespaceOf(r, o))
			}
		}
	}
	liveBy := make(map[string]entry, len(live))
	for _, o := range live {
		r, err := api.ResourceOf(o)
		if err != nil {
			return nil, fmt.Errorf("apply: live object %s: %w", o.GetName(), err)
		}
		k := key(r, namespaceOf(r, o), o.GetName())
		if isAutoscaler(o) && o.GetLabels()[api.LabelManagedBy] != api.ManagedByValue && !wanted[k] {
			// An HPA made through the API: it scales, sync leaves it alone.
			hpas.add(o, namespaceOf(r, o))
			continue
		}
		liveBy[k] = entry{r, o}
	}
	var out []Change
	seen := make(map[string]bool, len(desired))
	for _, want := range desired {
		r, err := api.ResourceOf(want)
		if err != nil {
			return nil, fmt.Errorf("apply: desired object %s: %w", want.GetName(), err)
		}
		c := Change{Resource: r, Namespace: namespaceOf(r, want), Name: want.GetName()}
		k := key(r, c.Namespace, c.Name)
		seen[k] = true
		cur, ok := liveBy[k]
		if !ok {
			c.Op, c.Object = Create, want
			out = append(out, c)
			continue
		}
		merged, changed, err := merge(r, cur.obj, want, hpas.owns(r, c.Namespace, c.Name))
		if err != nil {
			return nil, fmt.Errorf("apply: %s: %w", c.ID(), err)
		}
		if !changed {
			continue
		}
		c.Op, c.Live, c.Object = Update, cur.obj, merged
		out = append(out, c)
	}
	var pruned []Change
	for k, e := range liveBy {
		if !seen[k] && !terminating(e.obj) {
			pruned = append(pruned, Change{Op: Prune, Resource: e.r, Namespace: namespaceOf(e.r, e.obj), Name: e.obj.GetName(), Live: e.obj})
		}
	}
	slices.SortFunc(pruned, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.Resource.Kind, b.Resource.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return append(out, pruned...), nil
}

// namespaceOf returns the namespace obj is stored in: its own, "default"
// for a namespaced object without one, "" for cluster-scoped kinds.
func namespaceOf(r api.Resource, obj api.Object) string {
	switch ns := obj.GetNamespace(); {
	case !r.Namespaced:
		return ""
	case ns == "":
		return metav1.NamespaceDefault
	default:
		return ns
	}
}

// Desired returns a manifest's object as sync writes it for commit sha: a
// copy with what Git may not set cleared (uid, resourceVersion,
// creationTimestamp, generation, owner references, finalizers, status),
// bosun's managed-by label and its bosun.dev/commit and bosun.dev/source
// annotations (the line left out when not known), and for an object
// rendered by Kustomize or Helm bosun.dev/rendered-by. The manifest is not
// modified.
func Desired(m manifests.Object, sha string) (api.Object, error) {
	obj, ok := m.Obj.DeepCopyObject().(api.Object)
	if !ok {
		return nil, fmt.Errorf("apply: %s:%d: %T is not a Kubernetes object", m.File, m.Line, m.Obj)
	}
	// What Git may not set (manifests.Validate warns about each).
	obj.SetUID("")
	obj.SetResourceVersion("")
	obj.SetCreationTimestamp(metav1.Time{})
	obj.SetGeneration(0)
	obj.SetOwnerReferences(nil)
	obj.SetFinalizers(nil)
	if st := reflect.ValueOf(obj).Elem().FieldByName("Status"); st.IsValid() && st.CanSet() {
		st.Set(reflect.Zero(st.Type()))
	}
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[api.LabelManagedBy] = api.ManagedByValue
	obj.SetLabels(l)
	an := obj.GetAnnotations()
	if an == nil {
		an = map[string]string{}
	}
	an[api.AnnotationCommit] = sha
	an[api.AnnotationSource] = m.File
	if m.Line > 0 {
		an[api.AnnotationSource] += ":" + strconv.Itoa(m.Line)
	}
	if m.RenderedBy != "" {
		an[api.AnnotationRenderedBy] = m.RenderedBy
	}
	obj.SetAnnotations(an)
	return obj, nil
}

// merge returns the live object cur updated to want's content, keeping
// what sync does not own (status, system metadata, allocations, and the
// replicas when an HPA owns them: autoscaled), and whether anything but the
// commit annotation differs from cur.
func merge(r api.Resource, cur, want api.Object, autoscaled bool) (api.Object, bool, error) {
	cm, err := toMap(cur)
	if err != nil {
		return nil, false, err
	}
	wm, err := toMap(want)
	if err != nil {
		return nil, false, err
	}
	out := wm
	curMeta, _ := cm["metadata"].(map[string]any)
	wantMeta, _ := wm["metadata"].(map[string]any)
	meta := make(map[string]any, len(curMeta))
	for k, v := range curMeta {
		meta[k] = v
	}
	meta["labels"] = wantMeta["labels"]
	ann, _ := wantMeta["annotations"].(map[string]any)
	if curAnn, ok := curMeta["annotations"].(map[string]any); ok {
		for k, v := range curAnn {
			if hasAnyPrefix(k, preservedAnnotationPrefixes) {
				if _, set := ann[k]; !set {
					ann[k] = v
				}
			}
		}
	}
	meta["annotations"] = ann
	out["metadata"] = meta
	if s, ok := cm["status"]; ok {
		out["status"] = s
	} else {
		delete(out, "status")
	}
	switch r.Kind {
	case "Service":
		keepServiceAllocations(cm, out)
	case "Pod":
		keepPodBinding(cm, out)
	case "PersistentVolumeClaim", "PersistentVolume":
		keepVolumeBinding(cm, out)
	}
	if autoscaled {
		keepReplicas(cm, out)
	}

	if sameIgnoringCommit(cm, out) {
		return cur, false, nil
	}
	obj := r.New()
	if err := fromMap(out, obj); err != nil {
		return nil, false, err
	}
	return obj, true, nil
}

// keepServiceAllocations copies the clusterIP and nodePorts that the
// control plane allocated into a Service spec that leaves them unset.
func keepServiceAllocations(cur, out map[string]any) {
	cs, _ := cur["spec"].(map[string]any)
	os, _ := out["spec"].(map[string]any)
	if cs == nil || os == nil {
		return
	}
	if ip, _ := os["clusterIP"].(string); ip == "" {
		for _, k := range []string{"clusterIP", "clusterIPs"} {
			if v, ok := cs[k]; ok {
				os[k] = v
			}
		}
	}
	curPorts, _ := cs["ports"].([]any)
	outPorts, _ := os["ports"].([]any)
	for _, op := range outPorts {
		o, _ := op.(map[string]any)
		if o == nil || o["nodePort"] != nil {
			continue
		}
		for _, cp := range curPorts {
			c, _ := cp.(map[string]any)
			if c != nil && c["port"] == o["port"] && c["protocol"] == o["protocol"] && c["nodePort"] != nil {
				o["nodePort"] = c["nodePort"]
			}
		}
	}
}

// keepPodBinding keeps the node the scheduler bound a bare Pod from Git to
// when the manifest does not name one.
func keepPodBinding(cur, out map[string]any) {
	cs, _ := cur["spec"].(map[string]any)
	os, _ := out["spec"].(map[string]any)
	if cs == nil || os == nil {
		return
	}
	if n, _ := os["nodeName"].(string); n == "" && cs["nodeName"] != nil {
		os["nodeName"] = cs["nodeName"]
	}
}

// keepVolumeBinding keeps what the volume binder wrote into a claim or
// volume from Git: a claim's spec.volumeName when the manifest leaves it
// unset, a volume's spec.claimRef when the manifest leaves it unset or names
// the same claim (the binder adds its uid and resourceVersion).
func keepVolumeBinding(cur, out map[string]any) {
	cs, _ := cur["spec"].(map[string]any)
	os, _ := out["spec"].(map[string]any)
	if cs == nil || os == nil {
		return
	}
	if v, ok := cs["volumeName"]; ok {
		if n, _ := os["volumeName"].(string); n == "" {
			os["volumeName"] = v
		}
	}
	curRef, _ := cs["claimRef"].(map[string]any)
	if curRef == nil {
		return
	}
	want, _ := os["claimRef"].(map[string]any)
	if want == nil || (want["namespace"] == curRef["namespace"] && want["name"] == curRef["name"]) {
		os["claimRef"] = curRef
	}
}

func sameIgnoringCommit(a, b map[string]any) bool {
	strip := func(m map[string]any) map[string]any {
		c := make(map[string]any, len(m))
		for k, v := range m {
			c[k] = v
		}
		meta, _ := m["metadata"].(map[string]any)
		mc := make(map[string]any, len(meta))
		for k, v := range meta {
			if k != "resourceVersion" {
				mc[k] = v
			}
		}
		if ann, ok := meta["annotations"].(map[string]any); ok {
			ac := make(map[string]any, len(ann))
			for k, v := range ann {
				if k != api.AnnotationCommit {
					ac[k] = v
				}
			}
			mc["annotations"] = ac
		}
		c["metadata"] = mc
		return c
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func toMap(obj api.Object) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode %T: %w", obj, err)
	}
	return m, nil
}

func fromMap(m map[string]any, into api.Object) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %T: %w", into, err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("decode %T: %w", into, err)
	}
	return nil
}
