package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Defaults of Config: kubelet's --event-qps and --event-burst, and
// client-go's queue and aggregation cache sizes.
const (
	DefaultQPS       = 50
	DefaultBurst     = 100
	DefaultQueueSize = 1000
	DefaultCacheSize = 4096
)

// Series rate limit: each series of identical Events may be written 25
// times at once, then once every 5 minutes, as client-go's spam filter.
const (
	seriesBurst    = 25
	seriesInterval = 5 * time.Minute
)

// Sink writes Events: *store.Store in the control plane, the API client
// on a node.
type Sink interface {
	// Create writes a new Event and sets its resourceVersion; the error
	// wraps api.ErrExists when the name is taken.
	Create(ctx context.Context, obj api.Object) error
	// Update replaces an Event at its resourceVersion; the error wraps
	// api.ErrConflict or api.ErrNotFound.
	Update(ctx context.Context, obj api.Object) error
}

// Config configures a Recorder.
type Config struct {
	// Sink is where Events are written. Required.
	Sink Sink
	// Component is the Event's source.component and, prefixed with
	// "bosun.dev/", its reportingController: "default-scheduler",
	// "deployment-controller", "kubelet", "bosun-sync". Required.
	Component string
	// Host is source.host and reportingInstance: the node's name on an
	// agent; empty in the control plane (reportingInstance is then
	// Component).
	Host string
	// QPS and Burst bound the writes per second; defaults DefaultQPS and
	// DefaultBurst.
	QPS   float64
	Burst int
	// QueueSize is how many Events may wait to be written before new ones
	// are dropped; default DefaultQueueSize.
	QueueSize int
	// CacheSize is how many series are remembered for aggregation; default
	// DefaultCacheSize.
	CacheSize int
	// Clock stamps Events; default the real clock.
	Clock clock.PassiveClock
	// Logger receives write failures; default discards them.
	Logger *slog.Logger
}

// Recorder records Events. Its methods are safe for concurrent use.
type Recorder struct {
	cfg     Config
	queue   chan record
	limit   *rate.Limiter
	dropped atomic.Uint64
	// lastName is the time part of the last Event name made; only Run's
	// goroutine uses it.
	lastName int64

	mu     sync.Mutex // guards series and order
	series map[seriesKey]*series
	order  []seriesKey // insertion order, for eviction
}

// record is one call of Event, waiting to be written.
type record struct {
	key  seriesKey
	ref  corev1.ObjectReference
	at   time.Time
	kind string // Event type: Normal or Warning
}

// seriesKey identifies identical Events.
type seriesKey struct {
	kind, namespace, name, uid, apiVersion, fieldPath string
	eventType, reason, message                        string
}

// series is what is known of one series of identical Events.
type series struct {
	event   *corev1.Event // as last written; nil before the first write
	pending int32         // repeats recorded but not yet written
	tokens  float64       // spam filter bucket
	refill  time.Time     // when tokens was last topped up
}

// New returns a Recorder; call Run to write what it records.
func New(cfg Config) *Recorder {
	defaults.Positive(&cfg.QPS, DefaultQPS)
	defaults.Positive(&cfg.Burst, DefaultBurst)
	defaults.Positive(&cfg.QueueSize, DefaultQueueSize)
	defaults.Positive(&cfg.CacheSize, DefaultCacheSize)
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	defaults.Logger(&cfg.Logger)
	return &Recorder{
		cfg:    cfg,
		queue:  make(chan record, cfg.QueueSize),
		limit:  rate.NewLimiter(rate.Limit(cfg.QPS), cfg.Burst),
		series: map[seriesKey]*series{},
	}
}

// Ref returns a reference to obj for an Event: kind, apiVersion,
// namespace, name, uid and resourceVersion.
func Ref(obj api.Object) corev1.ObjectReference {
	ref := corev1.ObjectReference{
		Namespace:       obj.GetNamespace(),
		Name:            obj.GetName(),
		UID:             obj.GetUID(),
		ResourceVersion: obj.GetResourceVersion(),
	}
	if r, err := api.ResourceOf(obj); err == nil {
		ref.Kind, ref.APIVersion = r.Kind, r.APIVersion()
	}
	return ref
}

// ContainerRef returns a reference to the container named container of
// pod, as the kubelet's Events about containers carry it
// (fieldPath "spec.containers{NAME}").
func ContainerRef(pod *corev1.Pod, container string) corev1.ObjectReference {
	ref := Ref(pod)
	ref.FieldPath = "spec.containers{" + container + "}"
	for _, c := range pod.Spec.InitContainers {
		if c.Name == container {
			ref.FieldPath = "spec.initContainers{" + container + "}"
		}
	}
	return ref
}

// Event records an Event of type eventType (corev1.EventTypeNormal or
// EventTypeWarning) about ref. It never blocks: when the queue is full
// the Event is dropped and counted. A nil Recorder records nothing.
func (r *Recorder) Event(ref corev1.ObjectReference, eventType, reason, message string) {
	if r == nil {
		return
	}
	rec := record{
		key: seriesKey{
			kind: ref.Kind, namespace: ref.Namespace, name: ref.Name, uid: string(ref.UID),
			apiVersion: ref.APIVersion, fieldPath: ref.FieldPath,
			eventType: eventType, reason: reason, message: message,
		},
		ref:  ref,
		at:   r.cfg.Clock.Now(),
		kind: eventType,
	}
	select {
	case r.queue <- rec:
	default:
		r.dropped.Add(1)
	}
}

// Eventf is Event with a message formatted as fmt.Sprintf does.
func (r *Recorder) Eventf(ref corev1.ObjectReference, eventType, reason, format string, args ...any) {
	if r == nil {
		return
	}
	r.Event(ref, eventType, reason, fmt.Sprintf(format, args...))
}

// Dropped returns how many Events were dropped because the queue was full.
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// Run writes recorded Events until ctx is done; it returns nil then.
func (r *Recorder) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case rec := <-r.queue:
			r.handle(ctx, rec)
		}
	}
}

// handle aggregates rec into its series and writes the series when its
// spam filter and the Recorder's rate allow.
func (r *Recorder) handle(ctx context.Context, rec record) {
	s, write := r.admit(rec)
	if !write {
		return
	}
	if err := r.limit.Wait(ctx); err != nil {
		return
	}
	if err := r.write(ctx, rec, s); err != nil && ctx.Err() == nil {
		r.cfg.Logger.Warn("events: could not write an Event", "reason", rec.key.reason,
			"object", rec.key.kind+" "+rec.key.namespace+"/"+rec.key.name, "error", err)
	}
}

// admit counts rec in its series and reports whether to write now.
func (r *Recorder) admit(rec record) (*series, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.series[rec.key]
	if !ok {
		if len(r.order) >= r.cfg.CacheSize {
			delete(r.series, r.order[0])
			r.order = r.order[1:]
		}
		s = &series{tokens: seriesBurst, refill: rec.at}
		r.series[rec.key] = s
		r.order = append(r.order, rec.key)
	}
	s.pending++
	s.tokens = min(seriesBurst, s.tokens+float64(rec.at.Sub(s.refill))/float64(seriesInterval))
	s.refill = rec.at
	if s.tokens < 1 {
		return s, false
	}
	s.tokens--
	return s, true
}

// write creates the series' Event or adds the pending repeats to it.
func (r *Recorder) write(ctx context.Context, rec record, s *series) error {
	r.mu.Lock()
	prev, n := s.event, s.pending
	s.pending = 0
	r.mu.Unlock()
	ts := metav1.NewTime(rec.at)
	var ev *corev1.Event
	var err error
	if prev != nil {
		ev = prev.DeepCopy()
		ev.Count += n
		ev.LastTimestamp = ts
		err = r.cfg.Sink.Update(ctx, ev)
		if errors.Is(err, api.ErrNotFound) {
			// Expired or deleted: start the series again.
			prev = nil
		}
	}
	if prev == nil {
		// Names are the time in nanoseconds, as Kubernetes names Events;
		// strictly increasing per Recorder, and moved on past one taken by
		// another writer (coarse or fake clocks).
		for range 3 {
			ev = r.newEvent(rec, ts)
			ev.Count = n
			if err = r.cfg.Sink.Create(ctx, ev); !errors.Is(err, api.ErrExists) {
				break
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		// Written nothing: the repeats stay pending for the next write,
		// and a conflicting copy is forgotten so that write creates anew.
		s.pending += n
		if errors.Is(err, api.ErrConflict) {
			s.event = nil
		}
		return err
	}
	s.event = ev
	return nil
}

// newEvent builds the first Event of a series.
func (r *Recorder) newEvent(rec record, ts metav1.Time) *corev1.Event {
	instance := r.cfg.Host
	if instance == "" {
		instance = r.cfg.Component
	}
	ns := rec.ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	r.lastName = max(r.lastName+1, rec.at.UnixNano())
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns,
			Name:      fmt.Sprintf("%s.%x", strings.ReplaceAll(rec.ref.Name, ":", "-"), r.lastName),
		},
		InvolvedObject:      rec.ref,
		Reason:              rec.key.reason,
		Message:             rec.key.message,
		Type:                rec.kind,
		Source:              corev1.EventSource{Component: r.cfg.Component, Host: r.cfg.Host},
		FirstTimestamp:      ts,
		LastTimestamp:       ts,
		ReportingController: "bosun.dev/" + r.cfg.Component,
		ReportingInstance:   instance,
	}
}
