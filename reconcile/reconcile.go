package reconcile

import (
	"context"
	"errors"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Result says whether and when to look at a key again. The zero Result means
// "done until something changes".
type Result struct {
	// Requeue asks for the key to be queued again with rate limiting (per-key
	// exponential backoff), as after an error but without logging one.
	Requeue bool
	// RequeueAfter asks for the key to be queued again after this long; it takes
	// precedence over Requeue and resets the key's backoff.
	RequeueAfter time.Duration
}

// Reconciler converges one object, named by key "namespace/name" ("name" for
// cluster-scoped objects), towards its desired state. It re-reads state (from
// caches or the store) and never trusts the event that queued the key.
//
// Reconcile is called by a Controller's workers, concurrently for different keys
// but never twice at once for the same key. ctx is cancelled when the controller
// stops. A returned error requeues the key with backoff unless it is Terminal; a
// panic is recovered and treated as an error.
type Reconciler interface {
	Reconcile(ctx context.Context, key string) (Result, error)
}

// ReconcilerFunc adapts a function to the Reconciler interface.
type ReconcilerFunc func(ctx context.Context, key string) (Result, error)

// Reconcile calls f(ctx, key).
func (f ReconcilerFunc) Reconcile(ctx context.Context, key string) (Result, error) {
	return f(ctx, key)
}

// terminalError marks an error that retrying cannot fix.
type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// Terminal marks err as an error that retrying cannot fix (a human must change
// something): the Controller logs it and does not requeue the key. Terminal(nil)
// is nil. The result still matches err with errors.Is and errors.As.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &terminalError{err: err}
}

// IsTerminal reports whether err, or any error it wraps, was marked by Terminal.
func IsTerminal(err error) bool {
	var t *terminalError
	return errors.As(err, &t)
}

// KeyOf returns the key of obj: "namespace/name", or "name" for objects with an
// empty namespace (cluster-scoped kinds).
func KeyOf(obj metav1.Object) string {
	if ns := obj.GetNamespace(); ns != "" {
		return ns + "/" + obj.GetName()
	}
	return obj.GetName()
}

// SplitKey splits a key made by KeyOf into namespace and name; a key without
// "/" has an empty namespace.
func SplitKey(key string) (namespace, name string) {
	if ns, n, ok := strings.Cut(key, "/"); ok {
		return ns, n
	}
	return "", key
}

// PodAdmitter admits a pod a controller is about to create, as kube-apiserver's
// admission chain does for a pod create: it may change the pod (LimitRange
// defaults) and refuses with an error wrapping api.ErrForbidden whose message is
// Kubernetes' ("exceeded quota: compute, requested: cpu=500m, used: cpu=1500m,
// limited: cpu=2"). Controllers that create pods take one in their Config (nil
// admits every pod); on a refusal they create nothing, record a FailedCreate
// Warning Event with the message and try again later.
type PodAdmitter interface {
	AdmitPod(ctx context.Context, pod *corev1.Pod) error
}

// PodAdmitters is an admission chain: each admitter in order, stopping at
// the first refusal (kube-apiserver's order: ServiceAccount, LimitRanger,
// ResourceQuota).
type PodAdmitters []PodAdmitter

// AdmitPod passes pod through every admitter in order.
func (a PodAdmitters) AdmitPod(ctx context.Context, pod *corev1.Pod) error {
	for _, adm := range a {
		if err := adm.AdmitPod(ctx, pod); err != nil {
			return err
		}
	}
	return nil
}
