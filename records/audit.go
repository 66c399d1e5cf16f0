package records

import (
	"context"

	"github.com/bosun-dev/bosun/audit"
	"github.com/bosun-dev/bosun/sync/state"
)

// Users of the audit events of records that bosun writes on its own.
const (
	// UserSync is who syncs commits: the sync loop.
	UserSync = "system:bosun:sync"
	// UserAutoRollback is who reverts a commit whose rollout failed.
	UserAutoRollback = "system:bosun:autorollback"
)

// CommitTxn is a transaction that its holder commits; *store.Txn
// implements it.
type CommitTxn interface {
	Txn
	// Commit writes the transaction; see store.Txn.Commit.
	Commit(ctx context.Context) (int64, error)
}

// AuditedTxn is a transaction whose history entries, added with
// AppendInTxn, are written to an audit log once it commits: one event per
// entry, none when the commit fails. Status writes alone (SetStatusInTxn
// without an entry: a repeated attempt that the history does not list
// again) are not audited. Like the transaction it wraps it is used by one
// goroutine and committed once.
type AuditedTxn struct {
	txn     CommitTxn
	log     *audit.Logger
	user    audit.UserInfo
	pending []audit.Event
}

// Audited wraps txn so that the history entries added to it are logged to
// log when it commits. A nil log audits nothing. The caller keeps using
// txn itself for its other writes (objects) and commits through the
// returned AuditedTxn:
//
//	txn := s.Txn().Fence(fence)
//	// ... object writes on txn ...
//	at := records.Audited(txn, auditLog)
//	records.SetStatusInTxn(at, st)
//	records.AppendInTxn(at, att)
//	_, err := at.Commit(ctx)
func Audited(txn CommitTxn, log *audit.Logger) *AuditedTxn {
	return &AuditedTxn{txn: txn, log: log}
}

// PutRaw adds an unconditional write of value at key to the wrapped
// transaction.
func (t *AuditedTxn) PutRaw(key string, value []byte) {
	t.txn.PutRaw(key, value)
}

// Commit commits the wrapped transaction and, when it succeeded, logs the
// audit event of each history entry it carried. The error is the wrapped
// transaction's, unchanged (store.ErrFenced and api.ErrConflict stay
// recognisable with errors.Is).
func (t *AuditedTxn) Commit(ctx context.Context) (int64, error) {
	rev, err := t.txn.Commit(ctx)
	if err != nil {
		return rev, err
	}
	for _, e := range t.pending {
		t.log.Log(ctx, e)
	}
	t.pending = nil
	return rev, nil
}

// note remembers the audit event of the history entry att.
func (t *AuditedTxn) note(att state.Attempt, verb string) {
	if t.log == nil {
		return
	}
	user := t.user
	if user.Username == "" && att.Result != state.ResultControl {
		user.Username = UserSync
		if att.Result == state.ResultRolledBack {
			user.Username = UserAutoRollback
		}
	}
	t.pending = append(t.pending, eventOf(att, verb, user))
}

// eventOf returns the audit event of the history entry att, made by user;
// an empty verb is the one of att's result.
func eventOf(att state.Attempt, verb string, user audit.UserInfo) audit.Event {
	if verb == "" {
		verb = audit.VerbSync
		if att.Result == state.ResultRolledBack {
			verb = audit.VerbRollback
		}
	}
	e := audit.Event{
		Verb:                     verb,
		User:                     user,
		RequestReceivedTimestamp: att.Time,
		Result:                   att.Result,
		Message:                  att.Message,
	}
	if att.Commit.SHA != "" {
		e.Commit = &audit.Commit{SHA: att.Commit.SHA, Author: att.Commit.Author, Subject: att.Commit.Subject}
		if rb := att.RolledBack; rb != nil {
			e.Commit.RevertSHA = rb.RevertSHA
		}
	}
	return e
}

// controlVerb names the change from old to c: freeze, unfreeze, suspend,
// resume, approve (a manual sync) or accept-rewrite; "control" when none
// of those changed.
func controlVerb(old, c state.Control) string {
	switch {
	case old.Frozen == nil && c.Frozen != nil:
		return audit.VerbFreeze
	case old.Frozen != nil && c.Frozen == nil:
		return audit.VerbUnfreeze
	case old.Suspended == nil && c.Suspended != nil:
		return audit.VerbSuspend
	case old.Suspended != nil && c.Suspended == nil:
		return audit.VerbResume
	case old.AcceptedRewrite != c.AcceptedRewrite:
		return audit.VerbAcceptRewrite
	case old.Approved != c.Approved:
		return audit.VerbApprove
	case old.Frozen != nil && *old.Frozen != *c.Frozen:
		return audit.VerbFreeze
	case old.Suspended != nil && *old.Suspended != *c.Suspended:
		return audit.VerbSuspend
	}
	return state.ResultControl
}
