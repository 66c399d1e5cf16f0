// Package api is the vocabulary every bosun component shares: the table of
// resource kinds bosun stores and serves (Resource, Resources, Lookup,
// ResourceFor, ResourceOf), the Object interface their typed values satisfy,
// the sentinel errors (ErrNotFound, ErrConflict, ...) that the store, the
// API server and the client wrap, and the few rules about
// PodDisruptionBudgets that the disruption controller and the API server's
// eviction subresource share (PodReady, SetDisruptionAllowed,
// DisruptionAllowedUpToDate, DisruptionDeletionTimeout, MaxDisruptedPods).
//
// It does no I/O and imports neither etcd nor net/http, so the node agent and
// the command line client can depend on it without pulling in the store.
//
//	r, ok := api.Lookup("deploy") // apps/v1 Deployment, "deployments"
//	obj := r.New()                // *appsv1.Deployment
//	if errors.Is(err, api.ErrNotFound) { ... }
package api
