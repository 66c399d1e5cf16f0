package apiserver

import (
	"net/http"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/bosun-dev/bosun/api"
)

// objectFields returns the fields a fieldSelector may name for obj, as
// kube-apiserver offers them: metadata.name and metadata.namespace for every
// kind, and a few more per kind (pods: spec.nodeName, spec.restartPolicy,
// spec.schedulerName, status.phase, status.podIP; nodes: spec.unschedulable;
// events: involvedObject.*, reason, reportingComponent, source, type — what
// kubectl describe asks for).
func objectFields(obj api.Object) fields.Set {
	set := fields.Set{"metadata.name": obj.GetName(), "metadata.namespace": obj.GetNamespace()}
	switch o := obj.(type) {
	case *corev1.Pod:
		set["spec.nodeName"] = o.Spec.NodeName
		set["spec.restartPolicy"] = string(o.Spec.RestartPolicy)
		set["spec.schedulerName"] = o.Spec.SchedulerName
		set["status.phase"] = string(o.Status.Phase)
		set["status.podIP"] = o.Status.PodIP
	case *corev1.Node:
		set["spec.unschedulable"] = "false"
		if o.Spec.Unschedulable {
			set["spec.unschedulable"] = "true"
		}
	case *eventsv1.Event:
		// events.k8s.io names them as its fields: regarding, not involvedObject.
		refFields(set, "regarding.", o.Regarding)
		set["reason"] = o.Reason
		set["reportingController"] = o.ReportingController
		set["type"] = o.Type
	case *corev1.Event:
		refFields(set, "involvedObject.", o.InvolvedObject)
		set["reason"] = o.Reason
		set["reportingComponent"] = o.ReportingController
		set["source"] = o.Source.Component
		set["type"] = o.Type
	}
	return set
}

// refFields adds the fields of an Event's object reference under prefix.
func refFields(set fields.Set, prefix string, r corev1.ObjectReference) {
	set[prefix+"kind"] = r.Kind
	set[prefix+"namespace"] = r.Namespace
	set[prefix+"name"] = r.Name
	set[prefix+"uid"] = string(r.UID)
	set[prefix+"apiVersion"] = r.APIVersion
	set[prefix+"resourceVersion"] = r.ResourceVersion
	set[prefix+"fieldPath"] = r.FieldPath
}

// supportedFields lists the field labels of r's kind, for validation.
func supportedFields(r api.Resource) []string {
	set := objectFields(r.New())
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parseFieldSelector reads fieldSelector; nil means "everything". A field the
// kind does not offer is a 400, as kube-apiserver answers it.
func parseFieldSelector(req *http.Request, r api.Resource) (fields.Selector, *apiError) {
	raw := req.URL.Query().Get("fieldSelector")
	if raw == "" {
		return nil, nil
	}
	sel, err := fields.ParseSelector(raw)
	if err != nil {
		return nil, errBadRequest("invalid fieldSelector %q: %v", raw, err)
	}
	supported := supportedFields(r)
	for _, req := range sel.Requirements() {
		i := sort.SearchStrings(supported, req.Field)
		if i == len(supported) || supported[i] != req.Field {
			return nil, errBadRequest("field label not supported: %s (%s support %s)", req.Field, r.Name, strings.Join(supported, ", "))
		}
	}
	if sel.Empty() {
		return nil, nil
	}
	return sel, nil
}

// matchFields reports whether obj matches sel (nil matches everything).
func matchFields(sel fields.Selector, obj api.Object) bool {
	return sel == nil || sel.Matches(objectFields(obj))
}
