// Package status writes pod statuses through the API for the node agent, as
// kubelet's status manager does: the pod workers hand it the status they
// computed and go on; it keeps the latest status per pod, so that statuses
// set while a write is pending or under way coalesce into one write of the
// latest, and writes them through the status subresource (compare-and-swap
// on resourceVersion, one re-read after a conflict, a doubling back-off
// after a failure).
//
//	m := status.New(status.Config{Client: c, OnWritten: pods.StorePod})
//	go m.Run(ctx)
//	m.SetPodStatus(pod, computed) // never blocks; a no-op when nothing changed
package status
