package podsecurity

import (
	"unicode"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/bosun-dev/bosun/manifests"
)

// CheckObjects checks a commit's objects: every object with a pod spec
// (Pod, and the templates of Deployment, ReplicaSet, ReplicationController,
// DaemonSet, StatefulSet, Job and CronJob) against the levels of its namespace, whose labels
// nsLabels returns (nil for a namespace without labels or unknown; nsLabels
// itself may be nil), and every Namespace's Pod Security labels. It returns
// an error for each object the enforce level refuses and for each
// unparsable label of a Namespace, and a warning for each object failing
// the warn level, each with the object's file and line (where its document
// starts) and kube-apiserver's wording.
func (p *Policy) CheckObjects(objs []manifests.Object, nsLabels func(ns string) map[string]string) manifests.Problems {
	var ps manifests.Problems
	for _, o := range objs {
		if o.Obj == nil {
			continue
		}
		if ns, ok := o.Obj.(*corev1.Namespace); ok {
			ps = append(ps, labelProblems(o, p.CheckNamespace(ns.Labels))...)
			continue
		}
		meta, spec := PodSpecOf(o.Obj)
		if spec == nil {
			continue
		}
		var labels map[string]string
		if nsLabels != nil {
			labels = nsLabels(namespaceOf(o.Obj))
		}
		ps = append(ps, resultProblems(o, p.Check(labels, meta, spec))...)
	}
	return ps
}

// namespaceOf returns obj's namespace, "default" when unset (as manifests'
// defaulting and the API server set it).
func namespaceOf(obj metav1.Object) string {
	if ns := obj.GetNamespace(); ns != "" {
		return ns
	}
	return metav1.NamespaceDefault
}

// PodSpecOf returns what Check evaluates of obj: the metadata and spec of
// a Pod, or of the pod template of a Deployment, ReplicaSet,
// ReplicationController, DaemonSet, StatefulSet, Job or CronJob (its
// jobTemplate's pod template); nil, nil for any other object (and for a
// ReplicationController without a template). The results point into obj.
func PodSpecOf(obj runtime.Object) (*metav1.ObjectMeta, *corev1.PodSpec) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.ObjectMeta, &o.Spec
	case *corev1.ReplicationController:
		if o.Spec.Template != nil {
			return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec
		}
	case *appsv1.ReplicaSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec
	case *appsv1.Deployment:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec
	case *appsv1.DaemonSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec
	case *batchv1.Job:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.ObjectMeta, &o.Spec.JobTemplate.Spec.Template.Spec
	}
	return nil, nil
}

// resultProblems turns r, found for o, into an error (refused) or a
// warning (warn level failed).
func resultProblems(o manifests.Object, r Result) manifests.Problems {
	if r.Denied() {
		return manifests.Problems{problem(o, "", r.DeniedMessage(), false)}
	}
	var ps manifests.Problems
	for _, w := range r.Warnings() {
		ps = append(ps, problem(o, "", w, true))
	}
	return ps
}

// labelProblems turns the label errors of the Namespace o into errors.
func labelProblems(o manifests.Object, errs field.ErrorList) manifests.Problems {
	var ps manifests.Problems
	for _, e := range errs {
		ps = append(ps, problem(o, e.Field, lowerFirst(e.ErrorBody()), false))
	}
	return ps
}

// problem builds a Problem about o at o's line.
func problem(o manifests.Object, fieldPath, msg string, warning bool) manifests.Problem {
	return manifests.Problem{File: o.File, Line: o.Line, Object: o.ID().String(), Field: fieldPath, Message: msg, Warning: warning}
}

// lowerFirst lower-cases the first letter of s, as manifests' messages
// start.
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}
