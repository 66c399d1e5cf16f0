package testutil_test

import (
	"testing"

	"github.com/bosun-dev/bosun/internal/testutil"
)

func TestSyncPhase(t *testing.T) {
	const sha = "0123456789abcdef"
	tests := []struct{ log, want string }{
		{"", "before"},
		{`level=DEBUG msg="syncing commit" commit=01234567` + "\n", "inside"},
		{`msg="syncing commit" commit=01234567` + "\n" + `msg="applied commit" commit=01234567`, "after"},
		{`msg="syncing commit" commit=76543210`, "before"},
	}
	for _, tt := range tests {
		if got := testutil.SyncPhase(tt.log, sha); got != tt.want {
			t.Errorf("SyncPhase(%q) = %s, want %s", tt.log, got, tt.want)
		}
	}
}
