package nodeagent

import "k8s.io/apimachinery/pkg/types"

// PodSyncs returns how many syncs of the pod uid its pod worker has
// completed; tests wait for it to grow instead of sleeping.
func PodSyncs(a *Agent, uid string) int64 { return a.workers.Syncs(uid) }

// StatusWrites returns how many pod status writes the API accepted from a.
func StatusWrites(a *Agent) int64 { return a.status.Writes() }

// StatusPending reports whether a status of the pod uid waits to be written.
func StatusPending(a *Agent, uid string) bool {
	_, ok := a.status.Pending(types.UID(uid))
	return ok
}
