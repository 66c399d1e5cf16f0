package apiserver

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
)

// Reasons of the Events recording operational writes: changes made
// through the API that are not desired state (Git holds that), so that
// kubectl describe and bosun describe say who cordoned a node or deleted
// a pod, and when.
const (
	ReasonNodeNotSchedulable = "NodeNotSchedulable"
	ReasonNodeSchedulable    = "NodeSchedulable"
	ReasonLabelsChanged      = "LabelsChanged"
	ReasonTaintsChanged      = "TaintsChanged"
	ReasonDeleted            = "Deleted"
	ReasonEvicted            = "Evicted"
)

// operator returns the name of the person or program behind req, and
// false for writes that are not operational: those of nodes (their own
// Node and pods) and of requests without identity.
func operator(req *http.Request) (string, bool) {
	u, ok := UserFrom(req.Context())
	if !ok || u.Name == "" || u.InGroup(api.GroupNodes) {
		return "", false
	}
	return u.Name, true
}

// recordWrite records the Events of an update of old to obj (both of
// t's resource) made through the API: a Node cordoned or uncordoned,
// its labels or taints changed.
func (s *Server) recordWrite(req *http.Request, t target, old, obj api.Object) {
	who, ok := operator(req)
	if !ok || s.cfg.Recorder == nil || t.sub != "" {
		return
	}
	before, ok1 := old.(*corev1.Node)
	after, ok2 := obj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	ref := events.Ref(after)
	switch {
	case !before.Spec.Unschedulable && after.Spec.Unschedulable:
		s.cfg.Recorder.Eventf(ref, corev1.EventTypeNormal, ReasonNodeNotSchedulable, "Node %s cordoned by %s", after.Name, who)
	case before.Spec.Unschedulable && !after.Spec.Unschedulable:
		s.cfg.Recorder.Eventf(ref, corev1.EventTypeNormal, ReasonNodeSchedulable, "Node %s uncordoned by %s", after.Name, who)
	}
	if d := mapDiff(before.Labels, after.Labels); d != "" {
		s.cfg.Recorder.Eventf(ref, corev1.EventTypeNormal, ReasonLabelsChanged, "Labels changed by %s: %s", who, d)
	}
	if !slices.EqualFunc(before.Spec.Taints, after.Spec.Taints, func(a, b corev1.Taint) bool { return a.MatchTaint(&b) && a.Value == b.Value }) {
		var ts []string
		for _, tn := range after.Spec.Taints {
			ts = append(ts, tn.ToString())
		}
		s.cfg.Recorder.Eventf(ref, corev1.EventTypeNormal, ReasonTaintsChanged, "Taints set by %s: %s", who, orNone(strings.Join(ts, ", ")))
	}
}

// recordDelete records the deletion of a pod (Normal) or a Node (Warning:
// its agent registers it again if it still runs, and its pods are
// replaced) through the API, reason Deleted; other kinds are not
// recorded.
func (s *Server) recordDelete(req *http.Request, obj api.Object) {
	who, ok := operator(req)
	if !ok || s.cfg.Recorder == nil {
		return
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		s.cfg.Recorder.Eventf(events.Ref(o), corev1.EventTypeNormal, ReasonDeleted, "Pod deleted through the API by %s", who)
	case *corev1.Node:
		s.cfg.Recorder.Eventf(events.Ref(o), corev1.EventTypeWarning, ReasonDeleted,
			"Node deleted through the API by %s: its pods are deleted and replaced elsewhere; a running agent registers the node again", who)
	}
}

// recordEviction records the eviction of the pod of t (reason Evicted).
func (s *Server) recordEviction(req *http.Request, t target, budget string) {
	who, ok := operator(req)
	if !ok || s.cfg.Recorder == nil {
		return
	}
	ref := corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: t.namespace, Name: t.name}
	msg := "Pod evicted through the eviction API by " + who
	if budget != "" {
		msg += " (disruption budget " + budget + " allowed it)"
	}
	s.cfg.Recorder.Event(ref, corev1.EventTypeNormal, ReasonEvicted, msg)
}

// mapDiff describes the changes from a to b: "+k=v, ~k=v, -k".
func mapDiff(a, b map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if old, ok := a[k]; !ok {
			out = append(out, "+"+k+"="+b[k])
		} else if old != b[k] {
			out = append(out, "~"+k+"="+b[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[k]; !ok {
			out = append(out, "-"+k)
		}
	}
	return strings.Join(out, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
