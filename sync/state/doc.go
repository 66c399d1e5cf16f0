// Package state holds the records the sync loop keeps about itself in the
// store: the sync status (which commit is applied, what the last attempt
// did and why it failed) and the history of every commit that was tried.
//
// The records live outside the Kubernetes key space, under /bosun/sync/, as
// JSON. The status is written in the same etcd transaction as the objects of
// an applied commit, so a reader that sees the status of commit C also sees
// C's objects.
//
//	st, err := state.ReadStatus(ctx, s)
//	if err != nil { ... }
//	fmt.Println(st.Synced.SHA)
//
// With --verify-signatures, each CommitInfo also says what the signature
// check found (Signature) and, for a good signature, who signed (SignedBy).
// History entries with Result ResultRolledBack are written by the automatic
// rollback controller (reconcile/autorollback), not by sync: their Commit is
// the commit that was reverted and RolledBack names the revert commit and why.
//
// The package also names the labels and annotations sync puts on every
// object it writes.
package state
