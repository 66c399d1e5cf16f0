package api

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
)

// toCoreEvent and fromCoreEvent are the Storage of events.k8s.io/v1
// Events: stored as core/v1 Events, the one form in etcd, as kube-apiserver
// does, so both APIs serve the same Events.
func toCoreEvent(o Object) Object {
	if e, ok := o.(*eventsv1.Event); ok {
		return CoreEvent(e)
	}
	return o
}

func fromCoreEvent(o Object) Object {
	if c, ok := o.(*corev1.Event); ok {
		return EventsV1Event(c)
	}
	return o
}

// CoreEvent converts an events.k8s.io/v1 Event to core/v1, field for field
// as Kubernetes' conversion: regarding is involvedObject, note is message,
// the deprecated fields are the core ones.
func CoreEvent(e *eventsv1.Event) *corev1.Event {
	c := &corev1.Event{
		ObjectMeta:          *e.ObjectMeta.DeepCopy(),
		InvolvedObject:      e.Regarding,
		Reason:              e.Reason,
		Message:             e.Note,
		Source:              e.DeprecatedSource,
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
		Count:               e.DeprecatedCount,
		Type:                e.Type,
		EventTime:           e.EventTime,
		Action:              e.Action,
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
	}
	if e.Related != nil {
		r := *e.Related
		c.Related = &r
	}
	if e.Series != nil {
		c.Series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	return c
}

// EventsV1Event converts a core/v1 Event to events.k8s.io/v1.
func EventsV1Event(c *corev1.Event) *eventsv1.Event {
	e := &eventsv1.Event{
		ObjectMeta:               *c.ObjectMeta.DeepCopy(),
		Regarding:                c.InvolvedObject,
		Reason:                   c.Reason,
		Note:                     c.Message,
		DeprecatedSource:         c.Source,
		DeprecatedFirstTimestamp: c.FirstTimestamp,
		DeprecatedLastTimestamp:  c.LastTimestamp,
		DeprecatedCount:          c.Count,
		Type:                     c.Type,
		EventTime:                c.EventTime,
		Action:                   c.Action,
		ReportingController:      c.ReportingController,
		ReportingInstance:        c.ReportingInstance,
	}
	if c.Related != nil {
		r := *c.Related
		e.Related = &r
	}
	if c.Series != nil {
		e.Series = &eventsv1.EventSeries{Count: c.Series.Count, LastObservedTime: c.Series.LastObservedTime}
	}
	return e
}
