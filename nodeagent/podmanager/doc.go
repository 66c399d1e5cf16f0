// Package podmanager keeps the desired pods of one node, and is their only
// owner: the API's pods bound to the node (from the pod watch), the static
// pods read from files, and the mirror pods that show static pods in the API.
//
// It does no I/O: every change is recorded and the keys to look at again
// (pod UIDs, and MirrorKey for a mirror pod without its static pod) are
// handed to Config.Notify, which the pod workers take.
//
//	pm := podmanager.New(podmanager.Config{Notify: workers.Update})
//	go source.WatchPods(ctx, node, pm) // a nodeagent.PodHandler
//	d := pm.Get(uid)                   // what a pod worker converges on
package podmanager
