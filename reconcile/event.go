package reconcile

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
)

// Warning is a Warning Event a controller records about an object.
type Warning struct {
	// Namespace and Name name the Event; a problem that recurs keeps its name,
	// so it is one Event with a count.
	Namespace, Name string
	// Involved is the object the Event is about.
	Involved corev1.ObjectReference
	// Reason is a CamelCase word, Message a sentence for the user.
	Reason, Message string
}

// RecordWarning writes warn as an Event from the controller named controller
// at now, or, when an Event of that name exists, bumps its count and sets its
// last timestamp, message and involved object to warn's. It blocks until the
// write is committed; the error is the store's.
func RecordWarning(ctx context.Context, w interface {
	Creator
	Updater
}, g Getter, controller string, now time.Time, warn Warning) error {
	ts := metav1.NewTime(now).Rfc3339Copy()
	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: warn.Namespace, Name: warn.Name},
		InvolvedObject:      warn.Involved,
		Reason:              warn.Reason,
		Message:             warn.Message,
		Type:                corev1.EventTypeWarning,
		Source:              corev1.EventSource{Component: controller},
		ReportingController: "bosun.dev/" + controller,
		FirstTimestamp:      ts,
		LastTimestamp:       ts,
		Count:               1,
	}
	err := w.Create(ctx, ev)
	if errors.Is(err, api.ErrExists) {
		old := &corev1.Event{}
		if err = g.Get(ctx, ev.Namespace, ev.Name, old); err == nil {
			old.Count++
			old.LastTimestamp = ts
			old.Message = ev.Message
			old.InvolvedObject = ev.InvolvedObject
			err = w.Update(ctx, old)
		}
	}
	return err
}
