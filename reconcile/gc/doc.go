// Package gc is bosun's garbage collector: it deletes objects whose owners (by
// metadata.ownerReferences) are all gone, as Kubernetes' garbage collector does
// with background cascading deletion, so that removing a Deployment from Git
// removes its ReplicaSets and, in turn, their pods.
//
// An owner counts as gone when no object of its kind and name exists, or one
// exists with another UID (the owner was deleted and re-created). A dependent
// with some owners gone and some present loses only the dangling references.
// References to kinds the store does not know are left alone.
//
// The collector is level-triggered: deleting an owner queues its dependents
// (found through the owner-UID index of the shared informers), a dependent
// whose owner references change is checked, and every ScanInterval (one minute by
// default, on Config.Clock) every dependent is looked at as a safety net. Before
// declaring an owner gone it re-reads it from the store, since the cache may lag
// behind an owner that was just created. Deletes and updates are
// compare-and-swap on the dependent's resourceVersion.
//
// Usage, inside the control plane:
//
//	inf := cache.NewInformers(s, log)
//	collector := gc.New(gc.Config{Writer: s, Getter: s, Informers: inf, Logger: log})
//	inf.Start(ctx) // after New: New registers handlers and indexes
//	return collector.Run(ctx) // blocks until ctx ends
package gc
