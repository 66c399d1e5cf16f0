package records_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bosun-dev/bosun/audit"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
)

// auditLines closes l and returns the events in its file.
func auditLines(t *testing.T, l *audit.Logger, path string) []audit.Event {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestRecordsWritesAreAudited(t *testing.T) {
	s := storetest.Start(t)
	applied := attempt("aaaa1111bbbb", state.ResultApplied, 1)
	rolledBack := attempt("cccc2222dddd", state.ResultRolledBack, 2)
	rolledBack.Message = "reverted automatically by eeee3333: rollout failed"
	rolledBack.RolledBack = &state.Rollback{RevertSHA: "eeee3333ffff", Reason: "rollout failed"}
	rejected := attempt("1234abcd", state.ResultRejected, 3)
	rejected.Message = "deploy/web.yaml:3: metadata.name: invalid"
	syncCommit := func(a state.Attempt) *audit.Commit {
		return &audit.Commit{SHA: a.Commit.SHA, Author: a.Commit.Author, Subject: a.Commit.Subject}
	}
	alice := audit.UserInfo{Username: "alice", Groups: []string{"admins"}}

	tests := []struct {
		name  string
		write func(ctx context.Context, log *audit.Logger) error
		want  []audit.Event
	}{
		{
			name: "applied: status and entry in one transaction give one line",
			write: func(ctx context.Context, log *audit.Logger) error {
				txn := records.Audited(s.Txn(), log)
				records.SetStatusInTxn(txn, state.Status{Synced: &applied, LastAttempt: &applied})
				records.AppendInTxn(txn, applied)
				_, err := txn.Commit(ctx)
				return err
			},
			want: []audit.Event{{Verb: "sync", User: audit.UserInfo{Username: records.UserSync}, Result: "applied",
				Commit: syncCommit(applied), RequestReceivedTimestamp: applied.Time}},
		},
		{
			name: "rejected, with its message",
			write: func(ctx context.Context, log *audit.Logger) error {
				txn := records.Audited(s.Txn(), log)
				records.AppendInTxn(txn, rejected)
				_, err := txn.Commit(ctx)
				return err
			},
			want: []audit.Event{{Verb: "sync", User: audit.UserInfo{Username: records.UserSync}, Result: "rejected",
				Message: rejected.Message, Commit: syncCommit(rejected), RequestReceivedTimestamp: rejected.Time}},
		},
		{
			name: "automatic rollback names the revert",
			write: func(ctx context.Context, log *audit.Logger) error {
				txn := records.Audited(s.Txn(), log)
				records.AppendInTxn(txn, rolledBack)
				_, err := txn.Commit(ctx)
				return err
			},
			want: []audit.Event{{Verb: "rollback", User: audit.UserInfo{Username: records.UserAutoRollback}, Result: "rolled-back",
				Message: rolledBack.Message, RequestReceivedTimestamp: rolledBack.Time,
				Commit: &audit.Commit{SHA: "cccc2222dddd", Author: rolledBack.Commit.Author, Subject: rolledBack.Commit.Subject, RevertSHA: "eeee3333ffff"}}},
		},
		{
			name: "a status alone (a repeated attempt) is not audited",
			write: func(ctx context.Context, log *audit.Logger) error {
				txn := records.Audited(s.Txn(), log)
				records.SetStatusInTxn(txn, state.Status{Synced: &applied, LastAttempt: &rejected})
				_, err := txn.Commit(ctx)
				return err
			},
		},
		{
			name: "a transaction that fails is not audited",
			write: func(ctx context.Context, log *audit.Logger) error {
				txn := records.Audited(s.Txn(), log)
				records.AppendInTxn(txn, rejected)
				records.AppendInTxn(txn, rejected) // the same key twice: Commit refuses
				if _, err := txn.Commit(ctx); err == nil {
					t.Error("commit of a key written twice succeeded")
				}
				return nil
			},
		},
		{
			name: "freeze by alice",
			write: func(ctx context.Context, log *audit.Logger) error {
				_, err := records.ChangeControlAudited(ctx, s, log, alice, time.Unix(1700000100, 0).UTC(), func(c *state.Control) (string, error) {
					c.Frozen = &state.Hold{By: "alice", Reason: "release"}
					return "frozen by alice: release", nil
				})
				return err
			},
			want: []audit.Event{{Verb: "freeze", User: alice, Result: "control", Message: "frozen by alice: release",
				Commit: syncCommit(applied), RequestReceivedTimestamp: time.Unix(1700000100, 0).UTC()}},
		},
		{
			name: "history rewrite accepted by alice",
			write: func(ctx context.Context, log *audit.Logger) error {
				_, err := records.ChangeControlAudited(ctx, s, log, alice, time.Unix(1700000200, 0).UTC(), func(c *state.Control) (string, error) {
					c.AcceptedRewrite = "9999aaaa"
					return "history rewrite to 9999aaaa accepted by alice", nil
				})
				return err
			},
			want: []audit.Event{{Verb: "accept-rewrite", User: alice, Result: "control", Message: "history rewrite to 9999aaaa accepted by alice",
				Commit: syncCommit(applied), RequestReceivedTimestamp: time.Unix(1700000200, 0).UTC()}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			log, err := audit.New(audit.Config{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.write(t.Context(), log); err != nil {
				t.Fatal(err)
			}
			got := auditLines(t, log, path)
			ignore := cmpopts.IgnoreFields(audit.Event{}, "Kind", "APIVersion", "Level", "AuditID", "StageTimestamp")
			if d := cmp.Diff(tt.want, got, ignore, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("audit lines (-want +got):\n%s", d)
			}
		})
	}
}

// The wrapped transaction's errors pass through unchanged.
var _ records.CommitTxn = (*store.Txn)(nil)
