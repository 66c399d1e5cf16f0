// Package podworkers runs one goroutine per pod that syncs it toward its
// desired state, as kubelet's pod workers do: syncs of one pod never overlap,
// a signal that arrives during a sync causes exactly one more sync (which
// reads the latest desired state), and failures are retried with a doubling
// back-off on the given clock.
//
//	w := podworkers.New(podworkers.Config{Sync: syncPod, Clock: clk, MaxConcurrent: 4})
//	go w.Run(ctx)  // until ctx ends; waits for the running syncs
//	w.Update(uid)  // never blocks: start or signal the pod's worker
package podworkers
