// Package state holds the types of the records the sync loop keeps about
// itself: the sync status (which commit is applied, what the last attempt
// did and why it failed) and the history of every commit that was tried.
//
// It is plain data with no store dependency, so that the API client (and
// through it the node agent and the CLI) can decode the records without
// linking etcd. Reading and writing them in the store is the job of package
// records (github.com/bosun-dev/bosun/records), their one owner; the API
// serves them at /bosun/v1/status and /bosun/v1/history.
//
//	st, err := records.ReadStatus(ctx, s) // a state.Status
//	if err != nil { ... }
//	fmt.Println(st.Synced.Commit.Short())
//
// With --verify-signatures, each CommitInfo also says what the signature
// check found (Signature) and, for a good signature, who signed (SignedBy).
// History entries with Result ResultRolledBack are written by the automatic
// rollback controller (reconcile/autorollback), not by sync: their Commit is
// the commit that was reverted and RolledBack names the revert commit and why.
//
// It is the one package under sync/ that controllers may import.
package state
