// Package records is the one owner of the sync records in the store: the
// sync status and the history of every commit tried, under /bosun/sync/.
// Every read and every write of those keys goes through its functions; no
// other package writes them with raw keys.
//
// The record types (state.Status, state.Attempt, ...) live in sync/state,
// which has no store dependency, so that the API client can decode them
// without linking etcd. This package adds the key layout, the encoding and
// the I/O on top of them; it depends on the store and nothing of sync's
// machinery (Git, apply), which is why it sits at the top level rather than
// under sync/: the sync loop (sync/syncer, sync/apply), the API server
// (apiserver) and the automatic rollback controller (reconcile/autorollback)
// all write or read history, and controllers must not import sync's
// packages. The types it uses come from sync/state, the one package under
// sync/ that controllers may import (it is plain data).
//
// # Layout
//
// The status is one JSON document at StatusKey. History entries are JSON
// documents under HistoryPrefix, one per attempt, keyed by the attempt's
// time in nanoseconds (zero-padded), so that keys sort by time.
//
// # Writers
//
// The sync loop writes the status together with the objects of an applied
// commit, in one etcd transaction, so a reader that sees the status of
// commit C also sees C's objects; it therefore uses the transaction-scoped
// SetStatusInTxn and AppendInTxn. Append and SetStatus write one record on
// their own, unfenced (tests and tools); the sync loop and automatic
// rollback write only through transactions that carry their leader's fence
// (store.Txn.Fence, DESIGN.md decision 9), so a deposed leader's records
// never land.
//
// # Audit
//
// Every history entry bosun writes is also one line of the audit log
// (package audit), logged only after its transaction committed: the
// writers build their transaction with Audited(txn, auditLog) and commit
// through it; ChangeControlAudited does the same for control changes and
// names who asked. Entries of the sync loop are audited as the user
// UserSync (verb "sync"), automatic rollbacks as UserAutoRollback (verb
// "rollback"), control changes with the verb of what changed (freeze,
// unfreeze, suspend, resume, approve, accept-rewrite). A status written
// without a history entry (a repeated attempt) is not audited. A nil
// *audit.Logger audits nothing.
//
//	txn := s.Txn().Fence(fence)
//	// ... the commit's object writes on txn ...
//	at := records.Audited(txn, auditLog) // nil auditLog: not audited
//	records.SetStatusInTxn(at, st)
//	records.AppendInTxn(at, attempt)
//	_, err := at.Commit(ctx)
//
//	st, err := records.ReadStatus(ctx, s)         // wraps api.ErrNotFound before the first sync
//	h, err := records.ReadHistory(ctx, s, 10)     // newest first
package records
