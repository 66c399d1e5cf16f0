package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/audit"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/sync/state"
)

// Keys of the records.
const (
	// StatusKey is the key of the sync status.
	StatusKey = "/bosun/sync/status"
	// HistoryPrefix is the prefix of history entries; keys sort by time.
	HistoryPrefix = "/bosun/sync/history/"
	// ControlKey is the key of the sync's controls (state.Control).
	ControlKey = "/bosun/sync/control"
)

// Reader reads keys outside the typed object layout; *store.Store
// implements it.
type Reader interface {
	// GetRaw returns the value of key; the error wraps api.ErrNotFound for
	// a missing key.
	GetRaw(ctx context.Context, key string) ([]byte, int64, error)
	// ListRaw returns up to limit keys under prefix (0 = all), sorted by
	// key, descending when asked.
	ListRaw(ctx context.Context, prefix string, limit int64, descending bool) ([]store.RawKV, error)
}

// Writer writes one key outside the typed object layout; *store.Store
// implements it.
type Writer interface {
	// PutRaw writes value at key unconditionally.
	PutRaw(ctx context.Context, key string, value []byte) (int64, error)
}

// Txn is a transaction being built; *store.Txn implements it. Its writes
// land when the caller commits it.
type Txn interface {
	// PutRaw adds an unconditional write of value at key.
	PutRaw(key string, value []byte)
}

// ReadStatus returns the stored sync status, or a zero Status and an error
// wrapping api.ErrNotFound when bosun has never synced.
func ReadStatus(ctx context.Context, r Reader) (state.Status, error) {
	var st state.Status
	v, _, err := r.GetRaw(ctx, StatusKey)
	if err != nil {
		return st, fmt.Errorf("records: read status: %w", err)
	}
	if err := json.Unmarshal(v, &st); err != nil {
		return state.Status{}, fmt.Errorf("records: decode status: %w", err)
	}
	return st, nil
}

// ReadHistory returns up to limit history entries, newest first (limit <= 0
// means all). No history is an empty result, not an error.
func ReadHistory(ctx context.Context, r Reader, limit int) ([]state.Attempt, error) {
	kvs, err := r.ListRaw(ctx, HistoryPrefix, int64(max(limit, 0)), true)
	if err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("records: read history: %w", err)
	}
	out := make([]state.Attempt, 0, len(kvs))
	for _, kv := range kvs {
		var a state.Attempt
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("records: decode history entry %s: %w", kv.Key, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// SetStatusInTxn adds the write of the sync status st to txn.
func SetStatusInTxn(txn Txn, st state.Status) {
	txn.PutRaw(StatusKey, encode(st))
}

// AppendInTxn adds the history entry att, keyed by att.Time, to txn. When
// txn is an AuditedTxn, the entry is also audited once txn commits.
func AppendInTxn(txn Txn, att state.Attempt) {
	appendInTxn(txn, att, "")
}

// appendInTxn adds the history entry att to txn, audited with verb (empty:
// the verb of att's result) when txn is an AuditedTxn.
func appendInTxn(txn Txn, att state.Attempt, verb string) {
	if at, ok := txn.(*AuditedTxn); ok {
		at.note(att, verb)
	}
	txn.PutRaw(historyKey(att.Time), encode(att))
}

// SetStatus writes the sync status st on its own.
func SetStatus(ctx context.Context, w Writer, st state.Status) error {
	if _, err := w.PutRaw(ctx, StatusKey, encode(st)); err != nil {
		return fmt.Errorf("records: write status: %w", err)
	}
	return nil
}

// Append writes the history entry att, keyed by att.Time, on its own. An
// entry with the same time as an existing one replaces it. It is for tests
// and tools and is not audited: bosun's writers use AuditedTxn.
func Append(ctx context.Context, w Writer, att state.Attempt) error {
	if _, err := w.PutRaw(ctx, historyKey(att.Time), encode(att)); err != nil {
		return fmt.Errorf("records: append %s attempt of %s: %w", att.Result, att.Commit.Short(), err)
	}
	return nil
}

// ReadControl returns the sync's controls; none stored is a zero Control.
func ReadControl(ctx context.Context, r Reader) (state.Control, error) {
	var c state.Control
	v, _, err := r.GetRaw(ctx, ControlKey)
	if errors.Is(err, api.ErrNotFound) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("records: read the sync controls: %w", err)
	}
	if err := json.Unmarshal(v, &c); err != nil {
		return state.Control{}, fmt.Errorf("records: decode the sync controls: %w", err)
	}
	return c, nil
}

// SetControlInTxn adds the write of the sync's controls c to txn.
func SetControlInTxn(txn Txn, c state.Control) {
	txn.PutRaw(ControlKey, encode(c))
}

// historyKey returns the key of the history entry of an attempt made at t.
func historyKey(t time.Time) string {
	return fmt.Sprintf("%s%020d", HistoryPrefix, t.UnixNano())
}

// encode returns the stored form of a record. Records hold only plain
// data, so marshalling cannot fail.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("records: encode %T: %v", v, err))
	}
	return b
}

// ChangeControl changes the sync's controls with change, which returns
// what it did for the history ("frozen until ... by alice: release"), and
// writes the controls and that history entry (result state.ResultControl,
// at now, naming the synced commit) in one transaction. An error of change
// writes nothing. It is ChangeControlAudited without an audit log.
func ChangeControl(ctx context.Context, s *store.Store, now time.Time, change func(c *state.Control) (string, error)) (state.Control, error) {
	return ChangeControlAudited(ctx, s, nil, audit.UserInfo{}, now, change)
}

// ChangeControlAudited is ChangeControl that, once the transaction
// committed, logs one audit event to log: user (who asked), the verb of
// the change (freeze, unfreeze, suspend, resume, approve, accept-rewrite),
// the synced commit and the history message. A nil log audits nothing.
func ChangeControlAudited(ctx context.Context, s *store.Store, log *audit.Logger, user audit.UserInfo, now time.Time, change func(c *state.Control) (string, error)) (state.Control, error) {
	c, err := ReadControl(ctx, s)
	if err != nil {
		return c, err
	}
	old := c
	msg, err := change(&c)
	if err != nil {
		return c, err
	}
	att := state.Attempt{Time: now, Result: state.ResultControl, Message: msg}
	if st, err := ReadStatus(ctx, s); err == nil && st.Synced != nil {
		att.Commit = st.Synced.Commit
	}
	txn := Audited(s.Txn(), log)
	txn.user = user
	SetControlInTxn(txn, c)
	appendInTxn(txn, att, controlVerb(old, c))
	if _, err := txn.Commit(ctx); err != nil {
		return c, fmt.Errorf("records: write the sync controls: %w", err)
	}
	return c, nil
}
