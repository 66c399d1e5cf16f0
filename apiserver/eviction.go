package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
)

// The eviction subresource of pods: POST .../pods/{name}/eviction deletes
// the pod unless that would violate its PodDisruptionBudget, as
// kube-apiserver's EvictionREST does.

// evictionRetries bounds how often an eviction starts again when the pod
// or its budget changed between its read and its write.
const evictionRetries = 20

// msgViolatesBudget is kube-apiserver's message for an eviction its
// budget refuses (429).
const msgViolatesBudget = "Cannot evict pod as it would violate the pod's disruption budget."

// serveEviction answers POST .../pods/{name}/eviction with a policy/v1 (or
// policy/v1beta1) Eviction body: 201 and a Success Status when the pod was
// deleted, 429 TooManyRequests when its budget allows no disruption now.
// Authorization already let only admins through (a node may not evict).
func (s *Server) serveEviction(w http.ResponseWriter, req *http.Request, t target) *apiError {
	if req.Method != http.MethodPost {
		return errMethodNotAllowed("%s is not supported on %s: create an Eviction with POST", req.Method, req.URL.Path)
	}
	ev, aerr := s.decodeEviction(w, req, t)
	if aerr != nil {
		return aerr
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	dryRun := len(opts.DryRun) > 0 || len(req.URL.Query()["dryRun"]) > 0
	var callerRV string // the caller's precondition: then a conflict is the caller's to resolve
	if p := opts.Preconditions; p != nil && p.ResourceVersion != nil {
		callerRV = *p.ResourceVersion
	}
	for attempt := 0; ; attempt++ {
		budget, aerr := s.evictOnce(req, t, opts, dryRun)
		switch {
		case aerr == nil:
			u, _ := UserFrom(req.Context())
			s.log.Info("evicted pod", "pod", t.key(), "budget", budget, "user", u.Name, "dryRun", dryRun)
			if !dryRun {
				s.recordEviction(req, t, budget)
			}
			writeJSON(w, http.StatusCreated, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
				Status: metav1.StatusSuccess, Code: http.StatusCreated})
			return nil
		case aerr.status.Reason == metav1.StatusReasonConflict && callerRV == "" && attempt < evictionRetries:
			continue // the pod or its budget changed meanwhile: decide again
		}
		if d := aerr.status.Details; d != nil && d.RetryAfterSeconds > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfterSeconds)))
		}
		return aerr
	}
}

// decodeEviction reads the Eviction body and checks its kind and name.
func (s *Server) decodeEviction(w http.ResponseWriter, req *http.Request, t target) (*policyv1.Eviction, *apiError) {
	if aerr := jsonBody(req); aerr != nil {
		return nil, aerr
	}
	body, aerr := s.readBody(w, req)
	if aerr != nil {
		return nil, aerr
	}
	ev := &policyv1.Eviction{}
	if err := decodeStrict(body, ev); err != nil {
		return nil, errBadRequest("decode Eviction: %v", err)
	}
	switch ev.APIVersion {
	case "", "policy/v1", "policy/v1beta1":
	default:
		return nil, errBadRequest("the body is a %s %s: send a policy/v1 Eviction", ev.APIVersion, ev.Kind)
	}
	if ev.Kind != "" && ev.Kind != "Eviction" {
		return nil, errBadRequest("the body is a %s %s: send a policy/v1 Eviction", ev.APIVersion, ev.Kind)
	}
	if ev.Name != t.name {
		return nil, errBadRequest("name in URL does not match name in Eviction object")
	}
	if ev.Namespace != "" && ev.Namespace != t.namespace {
		return nil, errBadRequest("the namespace of the object (%s) does not match the namespace of the request (%s)", ev.Namespace, t.namespace)
	}
	return ev, nil
}

// evictOnce reads the pod and its budgets and, when the eviction may
// proceed, deletes the pod, in the same transaction as the budget's
// status update (disruptionsAllowed decremented, the pod recorded in
// disruptedPods), both conditional on what was read: of two evictions
// racing for a budget's last disruption one wins, the other sees a
// conflict and decides again. It returns the budget's name ("" for none).
func (s *Server) evictOnce(req *http.Request, t target, opts *metav1.DeleteOptions, dryRun bool) (string, *apiError) {
	ctx := req.Context()
	obj, aerr := s.read(req, t)
	if aerr != nil {
		return "", aerr
	}
	pod := obj.(*corev1.Pod)
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != pod.UID {
			return "", evictConflict(t, fmt.Sprintf("the UID in the precondition (%s) does not match the UID in record (%s); the object might have been deleted and then recreated", *p.UID, pod.UID))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != pod.ResourceVersion {
			return "", evictConflict(t, fmt.Sprintf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s); the object might have been modified", *p.ResourceVersion, pod.ResourceVersion))
		}
	}
	if managedByGit(pod) {
		return "", managedError(t, pod)
	}
	txn := s.cfg.Store.Txn()
	// Eviction deletes as DELETE does: a running pod terminates gracefully
	// (its deletionTimestamp is written in the same transaction as the
	// budget), anything else goes at once.
	terminating := pod.DeepCopy()
	if api.GracefulPodDelete(terminating, s.cfg.Now(), opts.GracePeriodSeconds) {
		if err := txn.Update(pod, terminating); err != nil {
			return "", errInternal(err)
		}
	} else if err := txn.Delete(t.r, pod.Namespace, pod.Name, pod.ResourceVersion); err != nil {
		return "", errInternal(err)
	}
	commit := func() *apiError {
		if dryRun {
			return nil
		}
		_, err := txn.Commit(ctx)
		if errors.Is(err, api.ErrConflict) {
			// The pod or its budget changed (or went) since they were read.
			return evictConflict(t, "the pod or its disruption budget changed meanwhile")
		}
		if err != nil {
			return objectError(t, err)
		}
		return nil
	}
	if ignoresBudgets(pod) {
		return "", commit()
	}
	budgets, aerr := s.budgetsOf(req, pod)
	if aerr != nil {
		return "", aerr
	}
	switch len(budgets) {
	case 0:
		return "", commit()
	case 1:
	default:
		return "", newStatusError(http.StatusInternalServerError, metav1.StatusReasonInternalError,
			"This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
	}
	pdb := budgets[0]
	if !api.PodReady(pod) {
		// An unready pod is no healthy pod: deleting it disrupts nothing
		// when the budget says so or is met without it.
		pol := pdb.Spec.UnhealthyPodEvictionPolicy
		if (pol != nil && *pol == policyv1.AlwaysAllow) ||
			(pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0) {
			return pdb.Name, commit()
		}
	}
	next, aerr := takeDisruption(pdb, pod.Name, s.cfg.Now())
	if aerr != nil {
		return pdb.Name, aerr
	}
	if err := txn.Update(pdb, next); err != nil {
		return pdb.Name, errInternal(err)
	}
	return pdb.Name, commit()
}

// evictConflict is a 409 Conflict about t's object saying why.
func evictConflict(t target, why string) *apiError {
	e := objectError(t, fmt.Errorf("%w: %s", api.ErrConflict, why))
	e.status.Message = fmt.Sprintf("operation cannot be fulfilled on %s %q%s: %s", t.r.Name, t.name, inNamespace(t), why)
	return e
}

// ignoresBudgets reports whether evicting pod needs no budget: it has
// finished, has not started (Pending), or is being deleted already.
func ignoresBudgets(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

func (s *Server) budgetResource() api.Resource {
	r, _ := s.resource("policy", "v1", "poddisruptionbudgets")
	return r
}

// budgetsOf returns the PodDisruptionBudgets of pod's namespace whose
// selector matches it (policy/v1: an empty selector matches every pod, a
// missing or invalid one none), sorted by name.
func (s *Server) budgetsOf(req *http.Request, pod *corev1.Pod) ([]*policyv1.PodDisruptionBudget, *apiError) {
	objs, _, err := s.cfg.Store.List(req.Context(), s.budgetResource(), pod.Namespace, store.ListOptions{})
	if err != nil {
		return nil, errInternal(fmt.Errorf("apiserver: list the disruption budgets of %s/%s: %w", pod.Namespace, pod.Name, err))
	}
	var out []*policyv1.PodDisruptionBudget
	for _, o := range objs {
		pdb := o.(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb)
	}
	slices.SortFunc(out, func(a, b *policyv1.PodDisruptionBudget) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// takeDisruption returns a copy of pdb with one disruption taken for pod
// at now, or the error kube-apiserver answers when the budget allows none:
// 429 while the status is behind the spec or no disruption is allowed, 403
// for a status that cannot be trusted.
func takeDisruption(pdb *policyv1.PodDisruptionBudget, pod string, now time.Time) (*policyv1.PodDisruptionBudget, *apiError) {
	st := pdb.Status
	switch {
	case st.ObservedGeneration < pdb.Generation:
		e := tooManyRequests(fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
		e.status.Details.RetryAfterSeconds = 10 // the controller catches up soon
		return nil, e
	case st.DisruptionsAllowed < 0:
		return nil, budgetForbidden(pdb, "pdb disruptions allowed is negative")
	case len(st.DisruptedPods) > api.MaxDisruptedPods:
		return nil, budgetForbidden(pdb, "DisruptedPods map too big - too many evictions not confirmed by PDB controller")
	case st.DisruptionsAllowed == 0:
		return nil, tooManyRequests(fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently",
			pdb.Name, st.DesiredHealthy, st.CurrentHealthy))
	}
	next := pdb.DeepCopy()
	next.Status.DisruptionsAllowed--
	if next.Status.DisruptionsAllowed == 0 {
		api.SetDisruptionAllowed(next, now)
	}
	if next.Status.DisruptedPods == nil {
		next.Status.DisruptedPods = map[string]metav1.Time{}
	}
	next.Status.DisruptedPods[pod] = metav1.NewTime(now).Rfc3339Copy()
	return next, nil
}

// tooManyRequests is the 429 of an eviction the budget refuses, with the
// DisruptionBudget cause saying why.
func tooManyRequests(cause string) *apiError {
	e := newStatusError(http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests, msgViolatesBudget)
	e.status.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: policyv1.DisruptionBudgetCause, Message: cause}}}
	return e
}

// budgetForbidden is the 403 of an eviction refused because pdb's status
// cannot be trusted.
func budgetForbidden(pdb *policyv1.PodDisruptionBudget, why string) *apiError {
	e := errForbidden("poddisruptionbudgets.policy %q is forbidden: %s", pdb.Name, why)
	e.status.Details = &metav1.StatusDetails{Name: pdb.Name, Group: "policy", Kind: "poddisruptionbudgets"}
	return e
}
