package printers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/client/printers"
	"github.com/bosun-dev/bosun/sync/state"
)

// TestPrintStatusStoreAlarm: bosun status says when etcd refuses writes,
// and a failure with no commit (the branch is gone) reads as a failure.
func TestPrintStatusStoreAlarm(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	synced := &state.Attempt{Commit: state.CommitInfo{SHA: "1a2b3c4d5e6f", Subject: "hello"}, Result: state.ResultApplied, Time: now.Add(-time.Hour)}
	failed := &state.Attempt{Result: state.ResultFailed, Time: now.Add(-time.Minute), Message: `branch "main" no longer exists`}
	var b strings.Builder
	st := state.Status{Repo: "/repo", Synced: synced, LastAttempt: failed, StoreAlarms: []string{"etcd member 1 is out of space (NOSPACE)"}}
	if err := printers.PrintStatus(&b, st, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Store alarm:   etcd member 1 is out of space (NOSPACE)\n",
		"Syncing failed; bosun retries, and meanwhile the cluster keeps running commit 1a2b3c4d."} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}
