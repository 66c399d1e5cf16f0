// Package cache keeps in-memory copies of stored resources for controllers: an
// Informer lists one resource from the store, then watches it from the list's
// revision, applies every change to its cache and indexes, and calls handlers.
// Informers shares one Informer per resource among all controllers.
//
// The cache is level-triggered plumbing: handlers should only enqueue keys, and
// reconcilers read the current state with Get, List and ByIndex. Objects returned
// by the cache (and passed to handlers) are shared by every reader: never change
// one; call DeepCopyObject (or the typed DeepCopy) first.
//
// When the watch fails, for instance because etcd compacted the revisions it still
// needed (api.ErrCompacted), the informer lists again and emits the difference
// with its cache as Add, Update and Delete events, so handlers never miss a change
// that matters, though they may see several changes merged into one. Events whose
// resourceVersion is not newer than the cached object's are ignored.
//
// Reads are O(result): Get is one map lookup; ByIndex returns one index bucket;
// List with a namespace and a selector scans the smaller of that namespace's
// objects and the objects carrying a label value the selector requires.
//
// # Example
//
//	informers := cache.NewInformers(s, log)
//	pods := informers.ForKind("pods")
//	pods.AddIndex(cache.IndexOwnerUID, cache.IndexByOwnerUID)
//	pods.AddIndex(cache.IndexNodeName, cache.IndexByNodeName)
//	pods.AddHandler(cache.Handler{
//		OnAdd:    func(o api.Object) { c.EnqueueObject(o) },
//		OnUpdate: func(_, o api.Object) { c.EnqueueObject(o) },
//		OnDelete: func(o api.Object) { c.EnqueueObject(o) },
//	})
//	informers.Start(ctx)
//	if err := informers.WaitForSync(ctx); err != nil {
//		return err
//	}
//	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
//	for _, o := range pods.List("prod", sel) {
//		pod := o.(*corev1.Pod).DeepCopy() // copy before changing
//		_ = pod
//	}
//	owned := pods.ByIndex(cache.IndexOwnerUID, string(rs.UID))
//	onNode := pods.ByIndex(cache.IndexNodeName, "node-1")
package cache
