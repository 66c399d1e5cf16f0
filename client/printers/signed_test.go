package printers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/client/printers"
	"github.com/bosun-dev/bosun/sync/state"
)

// TestPrintStatusSigner checks that bosun status says who signed the
// synced commit when signatures are verified, as the README promises, and
// says nothing about signatures when they are not.
func TestPrintStatusSigner(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	const signer = "Alice <alice@example.com> (key 0123456789ABCDEF)"
	tests := []struct {
		name     string
		signedBy string
		want     string
	}{
		{name: "verified", signedBy: signer, want: "Signed by:     " + signer + "\n"},
		{name: "not verified", signedBy: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			att := &state.Attempt{
				Commit: state.CommitInfo{SHA: "1a2b3c4d5e6f", Subject: "hello", SignedBy: tt.signedBy},
				Result: state.ResultApplied,
				Time:   now.Add(-time.Minute),
			}
			var b strings.Builder
			if err := printers.PrintStatus(&b, state.Status{Repo: "/repo", Synced: att, LastAttempt: att, Objects: 3}, now); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if tt.want != "" && !strings.Contains(out, tt.want) {
				t.Errorf("status does not name the signer:\n%s", out)
			}
			if tt.want == "" && strings.Contains(out, "Signed by") {
				t.Errorf("status names a signer although none was verified:\n%s", out)
			}
		})
	}
}
