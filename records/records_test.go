package records_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
)

func attempt(sha, result string, sec int64) state.Attempt {
	return state.Attempt{
		Commit: state.CommitInfo{SHA: sha, Author: "A <a@example.com>", Subject: "commit " + sha, Time: time.Unix(1700000000, 0).UTC()},
		Time:   time.Unix(1700000000+sec, 0).UTC(),
		Result: result,
	}
}

func TestStatusAndHistory(t *testing.T) {
	s := storetest.Start(t)
	ctx := t.Context()

	if _, err := records.ReadStatus(ctx, s); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("status before the first sync: err = %v, want api.ErrNotFound", err)
	}
	if h, err := records.ReadHistory(ctx, s, 0); err != nil || len(h) != 0 {
		t.Fatalf("history before the first sync = %v, %v; want empty", h, err)
	}

	// Written out of time order: the history is ordered by attempt time.
	first, second, third := attempt("aaaa", state.ResultApplied, 1), attempt("bbbb", state.ResultRejected, 2), attempt("cccc", state.ResultApplied, 3)
	if err := records.Append(ctx, s, second); err != nil {
		t.Fatal(err)
	}
	if err := records.Append(ctx, s, first); err != nil {
		t.Fatal(err)
	}
	// The sync loop's way: status and entry in one transaction.
	txn := s.Txn()
	want := state.Status{Repo: "/r", Branch: "main", Synced: &third, LastAttempt: &third, Objects: 4}
	records.SetStatusInTxn(txn, want)
	records.AppendInTxn(txn, third)
	if _, err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	got, err := records.ReadStatus(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("status (-want +got):\n%s", d)
	}
	tests := []struct {
		name  string
		limit int
		want  []state.Attempt
	}{
		{name: "all", limit: 0, want: []state.Attempt{third, second, first}},
		{name: "negative means all", limit: -1, want: []state.Attempt{third, second, first}},
		{name: "newest two", limit: 2, want: []state.Attempt{third, second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := records.ReadHistory(ctx, s, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, h); d != "" {
				t.Errorf("history (-want +got):\n%s", d)
			}
		})
	}

	if err := records.SetStatus(ctx, s, state.Status{Repo: "/other"}); err != nil {
		t.Fatal(err)
	}
	if got, err := records.ReadStatus(ctx, s); err != nil || got.Repo != "/other" || got.Synced != nil {
		t.Errorf("status after SetStatus = %+v, %v", got, err)
	}
}

func TestReadRejectsCorruptRecords(t *testing.T) {
	s := storetest.Start(t)
	ctx := t.Context()
	if _, err := s.PutRaw(ctx, records.StatusKey, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRaw(ctx, records.HistoryPrefix+"00000000000000000001", []byte("[]")); err != nil {
		t.Fatal(err)
	}
	if _, err := records.ReadStatus(ctx, s); err == nil {
		t.Error("ReadStatus of a corrupt status: no error")
	}
	if _, err := records.ReadHistory(ctx, s, 0); err == nil {
		t.Error("ReadHistory of a corrupt entry: no error")
	}
}
