// Package store keeps bosun's desired and observed state in etcd, shaped like
// kube-apiserver's storage: typed Kubernetes objects under a key per object,
// resourceVersion equal to the etcd revision, compare-and-swap writes, list at a
// revision and watch from a revision. It also runs etcd embedded in the process,
// grows and shrinks the etcd cluster, and keeps its history compacted.
//
// # Key layout
//
// Every object lives at one key, built from the resource's plural name:
//
//	/registry/<resource>/<namespace>/<name>   namespaced kinds, e.g. /registry/deployments/prod/web
//	/registry/<resource>/<name>               cluster-scoped kinds, e.g. /registry/nodes/node-1
//
// The prefix ("/registry") is Options.Prefix. Bosun's own records (sync status,
// history) live outside it, e.g. under "/bosun/", and are read and written with
// GetRaw, ListRaw, PutRaw and Txn.PutRaw. The kinds stored are those of api.Resources.
//
// # Values and resourceVersion
//
// A value is the object's Kubernetes JSON (encoding/json of the k8s.io/api type)
// with apiVersion and kind set. metadata.resourceVersion is never stored: on every
// read (Get, List, Watch) it is set to the key's etcd mod revision as a decimal
// string, as kube-apiserver does; after a write it is the revision of that write.
// So a resourceVersion is a point in etcd's history, comparable across all keys:
// List returns the revision it read at, and a Watch from that revision misses
// nothing and repeats nothing. Deleted events carry the object's last stored state
// with resourceVersion set to the revision of the deletion.
//
// Writes are compare-and-swap: Update and conditional Delete compare the key's mod
// revision with the resourceVersion given and fail with api.ErrConflict when someone
// else wrote in between; the caller reads again and retries. Create sets uid,
// creationTimestamp and generation (1 for kinds with a spec); Update keeps uid and
// creationTimestamp and increments generation only when spec changed.
//
// A Txn groups many writes (a whole Git commit) into one etcd transaction: readers
// and watchers see all of it at one revision or none of it. Commit refuses, before
// sending, a transaction above etcd's --max-txn-ops or --max-request-bytes with
// api.ErrTooLarge naming the limit; the embedded etcd raises both limits far above
// etcd's defaults.
//
// # Secrets at rest
//
// With Options.Secrets (an encryption.Transformer from a key file), the
// values of Secrets, and of no other kind, are encrypted on every write
// (Create, Update, Txn) and decrypted on every read (Get, List, Watch and
// Event.Previous): they go through Store.encode and Store.decode, the only
// codec of objects. The etcd key is the AES-GCM additional data. A value
// that does not decrypt is an error wrapping encryption.ErrDecrypt that
// names the key and the provider's key; plaintext values written before
// are read as they are. RewriteSecrets writes every Secret not stored with
// the current key again (rotation), with compare-and-swap.
//
// History older than what a Compactor retains is gone: reads and watches at such
// revisions fail with api.ErrCompacted, and the client lists again.
//
// # Embedded etcd and membership
//
// StartEmbedded runs an etcd member in the process. Without EmbedConfig.TLS
// it speaks plain HTTP (loopback only). With TLS (pki.EtcdPKI makes the
// certificates from the cluster CA) clients and peers must present a
// certificate from that CA with an allowed subject, and the Embedded's own
// client presents one.
//
// A cluster grows one member at a time, as etcd's runtime reconfiguration
// guide says: AddLearner, on a running member, records the new member as a
// learner (it receives the log but does not vote, so it cannot cost the
// cluster its majority while it catches up) and returns the InitialCluster
// to start it with; the new member starts on an empty data directory with
// ClusterState ClusterStateExisting; PromoteLearner makes it a voter once
// etcd says it has caught up. ListMembers shows members (learner or voter,
// the leader) and RemoveMember takes one out by name or ID; a removed
// member's data directory is never reused.
//
//	added, initial, err := store.AddLearner(ctx, first.Client(), "cp-2", "https://10.0.0.2:2380")
//	// on the new machine:
//	e, err := store.StartEmbedded(ctx, store.EmbedConfig{DataDir: dir, Name: "cp-2",
//		PeerURL: "https://10.0.0.2:2380", ClientURL: "https://127.0.0.1:2379", TLS: tlsFiles,
//		InitialCluster: initial, ClusterState: store.ClusterStateExisting})
//	// then, through any voter:
//	err = store.PromoteLearner(ctx, first.Client(), added.ID)
//
// # Store format
//
// FormatKey (/bosun/meta/format) holds the store's format version. A server
// calls EnsureFormat right after connecting: on an empty store it records
// FormatVersion; on a store without the key (written by a release before
// the format was versioned: format 0) or of an older format it runs
// Migrations, each idempotent and followed by the write of its format, so
// that a crash in between re-runs it safely; a store of a newer format is
// refused with ErrNewerFormat. A layout change raises FormatVersion and
// adds its Migration.
//
// # Example
//
//	e, err := store.StartEmbedded(ctx, store.EmbedConfig{DataDir: "/var/lib/bosun/etcd", Logger: log})
//	if err != nil {
//		return err
//	}
//	defer e.Close()
//	s := store.New(e.Client(), e.StoreOptions())
//
//	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web"}, Spec: spec}
//	if err := s.Create(ctx, d); err != nil { // key /registry/deployments/prod/web
//		return err
//	}
//	// d.ResourceVersion is now the revision of the create, say "42".
//
//	pods, rev, err := s.List(ctx, podsResource, "prod", store.ListOptions{})
//	w, err := s.Watch(ctx, podsResource, "prod", rev) // every change after the list
//	for ev := range w.Events() {
//		log.Info("pod changed", "type", ev.Type, "pod", ev.Object.GetName(), "revision", ev.Revision)
//	}
//	if errors.Is(w.Err(), store.ErrCompacted) {
//		// list again and watch from the new revision
//	}
//
//	txn := s.Txn() // one Git commit, all or nothing
//	_ = txn.Create(configMap)
//	_ = txn.Update(oldService, newService) // compare on oldService.ResourceVersion
//	_ = txn.Delete(podsResource, "prod", "stale", "")
//	txn.PutRaw("/bosun/sync/status", statusJSON)
//	rev, err = txn.Commit(ctx) // ErrConflict: nothing written; read again and retry
//
// Where podsResource, _ := store.Lookup("pods").
package store
