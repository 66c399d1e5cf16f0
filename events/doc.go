// Package events records Kubernetes Events for bosun's components: the
// scheduler, the controllers, sync, auto-rollback and the node agents, so
// `kubectl describe` and `bosun describe` say what happened to an object
// and why (a Pending pod's "0/3 nodes are available: 3 Insufficient cpu.").
//
// Events are core/v1 Events, written as kube-apiserver's clients write
// them: source component and host, reporting controller and instance, an
// involved object with its uid, and a name "<object name>.<hex time>".
// The store expires them (store.Options.EventTTL, an hour by default,
// through etcd leases).
//
// A Recorder never blocks its caller and never slows the work it
// describes: Event queues the record and returns; Run writes the queue
// out, at most Config.QPS writes a second (Config.Burst at once). Events
// are best effort, as in Kubernetes: when the queue is full a new one is
// dropped and counted (Dropped), and one that cannot be written is logged
// and forgotten.
//
// Repeats are aggregated as client-go's event correlator does: an Event
// identical to one recorded before (same source, object, type, reason and
// message) updates that Event's count and lastTimestamp instead of making
// a new one, and each such series is rate limited on its own (a burst of
// 25, then one write per 5 minutes; a write carries every repeat since
// the last one in its count).
//
// Usage:
//
//	rec := events.New(events.Config{Sink: st, Component: "default-scheduler"})
//	go rec.Run(ctx)
//	rec.Eventf(events.Ref(pod), corev1.EventTypeWarning, "FailedScheduling", "0/%d nodes are available: %s.", n, why)
package events
