package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// ErrForbidden is what every refusal of the Admitter wraps: api.ErrForbidden.
var ErrForbidden = api.ErrForbidden

// ErrNotReady means the Admitter's caches have not synced yet: the pod was
// neither admitted nor refused, and the caller should try again later.
var ErrNotReady = errors.New("quota admission: caches not synced yet")

// DefaultReservationTimeout is how long an admitted pod that the pod cache
// has not shown yet is counted against its quotas.
const DefaultReservationTimeout = time.Minute

// Refusal is an admission refusal; Error is kube-apiserver's message for
// the pod create ("pods \"web-x2k\" is forbidden: exceeded quota: ..."), and
// it wraps ErrForbidden.
type Refusal struct {
	// Pod is the pod's name, or its generateName when it has none yet.
	Pod string
	// Reason is the message of the admission plugin that refused:
	// "exceeded quota: compute, requested: cpu=500m, used: cpu=1500m, limited: cpu=2".
	Reason string
}

// Error returns kube-apiserver's message.
func (r *Refusal) Error() string { return fmt.Sprintf("pods %q is forbidden: %s", r.Pod, r.Reason) }

// Unwrap returns ErrForbidden.
func (r *Refusal) Unwrap() error { return ErrForbidden }

// AdmitterConfig configures an Admitter.
type AdmitterConfig struct {
	// Informers supplies the pod, ResourceQuota and LimitRange caches
	// (required); NewAdmitter must be called before Informers.Start.
	Informers *cache.Informers
	// ReservationTimeout is how long an admitted pod is counted while the
	// pod cache does not show it (the create failed, or the cache lags);
	// default DefaultReservationTimeout.
	ReservationTimeout time.Duration
	// Clock tells the time of reservations and terminating pods; default
	// the real clock.
	Clock clock.PassiveClock
	// Logger receives refusals at debug level; nil discards.
	Logger *slog.Logger
}

// Admitter admits the pods controllers create, as kube-apiserver's
// LimitRanger and ResourceQuota admission plugins do: LimitRange defaults
// and bounds first, then every ResourceQuota of the namespace that matches
// the pod. It implements reconcile.PodAdmitter and is safe for concurrent
// use: admissions in one namespace are serialized, and a pod admitted but
// not yet in the pod cache is counted (reserved) until the cache shows it or
// ReservationTimeout passes, so pods created in quick succession never
// together exceed a quota.
type Admitter struct {
	cfg    AdmitterConfig
	pods   *cache.Informer
	quotas *cache.Informer
	ranges *cache.Informer

	mu     sync.Mutex
	seq    uint64              // last sequence number given to a pod
	spaces map[string]*nsState // by namespace
}

var _ reconcile.PodAdmitter = (*Admitter)(nil)

// nsState is what the Admitter remembers of one namespace.
type nsState struct {
	seen         map[types.UID]*seenPod
	reservations []*reservation
	pods         []*corev1.Pod // the cached pods observe saw last
	pass         uint64        // counts observe's passes, to find gone pods
}

// seenPod is a pod the Admitter has seen in the cache: seq orders it after
// every reservation made before it was seen.
type seenPod struct {
	seq             uint64
	pass            uint64 // the last observe pass that saw it
	resourceVersion string
	usage           corev1.ResourceList
	claimed         bool // it released a reservation already
}

// reservation is an admitted pod not yet seen in the cache.
type reservation struct {
	seq          uint64 // pods seen with a larger seq may be this pod
	owner        types.UID
	name, prefix string
	pod          *corev1.Pod // for scope matching
	usage        corev1.ResourceList
	expires      time.Time
}

// NewAdmitter returns an Admitter reading cfg.Informers' caches. It panics
// when cfg.Informers is nil (a wiring mistake).
func NewAdmitter(cfg AdmitterConfig) *Admitter {
	if cfg.Informers == nil {
		panic("quota: AdmitterConfig.Informers is required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.ReservationTimeout, DefaultReservationTimeout)
	return &Admitter{
		cfg:    cfg,
		pods:   cfg.Informers.ForKind("pods"),
		quotas: cfg.Informers.ForKind("resourcequotas"),
		ranges: cfg.Informers.ForKind("limitranges"),
		spaces: map[string]*nsState{},
	}
}

// AdmitPod applies the namespace's LimitRange defaults to pod and admits it
// against the namespace's ResourceQuotas. A refusal is a *Refusal wrapping
// ErrForbidden; ErrNotReady means the caches are not synced yet. It does
// not block beyond the Admitter's lock.
func (a *Admitter) AdmitPod(ctx context.Context, pod *corev1.Pod) error {
	if !a.pods.HasSynced() || !a.quotas.HasSynced() || !a.ranges.HasSynced() {
		return ErrNotReady
	}
	name := pod.Name
	if name == "" {
		name = pod.GenerateName
	}
	if err := ApplyLimitRanges(pod, a.limitRanges(pod.Namespace)); err != nil {
		return a.refuse(pod, name, err.Error())
	}
	quotas := a.matchingQuotas(pod)
	if len(quotas) == 0 {
		return nil
	}
	for _, rq := range quotas {
		if msg := constraints(rq, pod); msg != "" {
			return a.refuse(pod, name, fmt.Sprintf("failed quota: %s: %s", rq.Name, msg))
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Clock.Now()
	usage := PodUsage(pod, now)
	st := a.observe(pod.Namespace, now)
	for _, rq := range quotas {
		if msg := a.check(st, rq, usage); msg != "" {
			return a.refuse(pod, name, msg)
		}
	}
	r := &reservation{seq: a.seq, name: pod.Name, prefix: pod.GenerateName, pod: pod.DeepCopy(), usage: usage,
		expires: now.Add(a.cfg.ReservationTimeout)}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		r.owner = ref.UID
	}
	st.reservations = append(st.reservations, r)
	a.spaces[pod.Namespace] = st // observe forgets empty namespaces
	return nil
}

func (a *Admitter) refuse(pod *corev1.Pod, name, reason string) error {
	a.cfg.Logger.Debug("pod refused", "namespace", pod.Namespace, "pod", name, "reason", reason)
	return &Refusal{Pod: name, Reason: reason}
}

// limitRanges returns the namespace's LimitRanges from the cache.
func (a *Admitter) limitRanges(namespace string) []*corev1.LimitRange {
	var out []*corev1.LimitRange
	for _, o := range a.ranges.List(namespace, nil) {
		out = append(out, o.(*corev1.LimitRange))
	}
	return out
}

// matchingQuotas returns the namespace's enforceable quotas whose scopes
// pod falls under and that limit something pods use, sorted by name.
func (a *Admitter) matchingQuotas(pod *corev1.Pod) []*corev1.ResourceQuota {
	var out []*corev1.ResourceQuota
	for _, o := range a.quotas.List(pod.Namespace, nil) {
		rq := o.(*corev1.ResourceQuota)
		if CheckScopes(rq) != nil || !podMatches(rq, pod) || len(podResourcesOf(rq.Spec.Hard)) == 0 {
			continue
		}
		out = append(out, rq)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// constraints returns Kubernetes' "must specify" message when rq limits
// cpu or memory requests or limits that a container of pod does not set.
func constraints(rq *corev1.ResourceQuota, pod *corev1.Pod) string {
	var required []corev1.ResourceName
	for _, n := range constrainedResources {
		if _, ok := rq.Spec.Hard[n]; ok {
			required = append(required, n)
		}
	}
	if len(required) == 0 {
		return ""
	}
	missing := map[corev1.ResourceName][]string{}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			has := computeUsage(cs[i].Resources.Requests, cs[i].Resources.Limits)
			for _, n := range required {
				if _, ok := has[n]; !ok {
					missing[n] = append(missing[n], cs[i].Name)
				}
			}
		}
	}
	if len(missing) == 0 {
		return ""
	}
	var parts []string
	for n, containers := range missing {
		sort.Strings(containers)
		parts = append(parts, fmt.Sprintf("%s for: %s", n, strings.Join(containers, ",")))
	}
	sort.Strings(parts)
	return "must specify " + strings.Join(parts, "; ")
}

// observe brings the namespace's record up to the pod cache: new pods get
// a sequence number, gone pods are forgotten, reservations that a new pod
// fulfils or that expired are dropped. Callers hold a.mu.
func (a *Admitter) observe(namespace string, now time.Time) *nsState {
	st := a.spaces[namespace]
	if st == nil {
		st = &nsState{seen: map[types.UID]*seenPod{}}
		a.spaces[namespace] = st
	}
	st.pass++
	oldest := a.seq // pods seen at or before every reservation cannot claim one
	for _, r := range st.reservations {
		oldest = min(oldest, r.seq)
	}
	var fresh []*corev1.Pod // pods that may be the pod of a reservation
	st.pods = st.pods[:0]
	for _, o := range a.pods.List(namespace, nil) {
		pod := o.(*corev1.Pod)
		st.pods = append(st.pods, pod)
		sp := st.seen[pod.UID]
		if sp == nil {
			a.seq++
			sp = &seenPod{seq: a.seq}
			st.seen[pod.UID] = sp
		}
		sp.pass = st.pass
		if sp.resourceVersion != pod.ResourceVersion || sp.usage == nil {
			sp.resourceVersion, sp.usage = pod.ResourceVersion, PodUsage(pod, now)
		} else if _, ok := uncountedAt(pod); ok {
			sp.usage = PodUsage(pod, now) // a terminating pod stops counting with time
		}
		if !sp.claimed && sp.seq > oldest {
			fresh = append(fresh, pod)
		}
	}
	for uid, sp := range st.seen {
		if sp.pass != st.pass {
			delete(st.seen, uid)
		}
	}
	kept := st.reservations[:0]
	for _, r := range st.reservations {
		if now.After(r.expires) || a.claim(st, r, fresh) {
			continue
		}
		kept = append(kept, r)
	}
	clear(st.reservations[len(kept):])
	st.reservations = kept
	if len(st.seen) == 0 && len(st.reservations) == 0 {
		delete(a.spaces, namespace) // nothing to remember: an emptied namespace costs nothing
	}
	return st
}

// claim finds a pod in fresh that r was the admission of (same controller,
// same name or generateName prefix, first seen after r was made) and marks
// it claimed.
func (a *Admitter) claim(st *nsState, r *reservation, fresh []*corev1.Pod) bool {
	for _, pod := range fresh {
		sp := st.seen[pod.UID]
		if sp.claimed || sp.seq <= r.seq || !r.matches(pod) {
			continue
		}
		sp.claimed = true
		return true
	}
	return false
}

func (r *reservation) matches(pod *corev1.Pod) bool {
	var owner types.UID
	if ref := metav1.GetControllerOf(pod); ref != nil {
		owner = ref.UID
	}
	if owner != r.owner {
		return false
	}
	if r.name != "" {
		return pod.Name == r.name
	}
	return strings.HasPrefix(pod.Name, r.prefix)
}

// check returns the "exceeded quota" message when usage on top of what rq
// counts already (cached pods and reservations) passes rq's hard limits.
// Callers hold a.mu.
func (a *Admitter) check(st *nsState, rq *corev1.ResourceQuota, usage corev1.ResourceList) string {
	hardNames := podResourcesOf(rq.Spec.Hard)
	requested := mask(usage, hardNames)
	if len(requested) == 0 {
		return ""
	}
	used := a.usedByPods(st, rq, hardNames)
	newUsed := mask(add(used, requested), names(requested))
	over := exceeded(newUsed, rq.Spec.Hard)
	if len(over) == 0 {
		return ""
	}
	return fmt.Sprintf("exceeded quota: %s, requested: %s, used: %s, limited: %s", rq.Name,
		prettyPrint(mask(requested, over)), prettyPrint(mask(zeroFilled(used, rq.Spec.Hard), over)), prettyPrint(mask(rq.Spec.Hard, over)))
}

// usedByPods sums, over hardNames, the usage of the cached pods and the
// reservations that fall under rq's scopes. Callers hold a.mu.
func (a *Admitter) usedByPods(st *nsState, rq *corev1.ResourceQuota, hardNames []corev1.ResourceName) corev1.ResourceList {
	used := corev1.ResourceList{}
	for _, pod := range st.pods {
		if podMatches(rq, pod) {
			addInto(used, st.seen[pod.UID].usage, hardNames)
		}
	}
	for _, r := range st.reservations {
		if podMatches(rq, r.pod) {
			addInto(used, r.usage, hardNames)
		}
	}
	return used
}

// Reserved returns how many admitted pods of namespace are counted without
// being in the pod cache yet (for tests and metrics).
func (a *Admitter) Reserved(namespace string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.observe(namespace, a.cfg.Clock.Now()).reservations)
}
