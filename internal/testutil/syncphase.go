package testutil

import "strings"

// SyncPhase says where a server's log leaves the sync of commit sha, for
// tests that kill the server: "before" it started (no "syncing commit"
// line for it), "inside" it (started, no "applied commit" line) or
// "after" it was applied.
func SyncPhase(log, sha string) string {
	started, applied := false, false
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "commit="+sha[:8]) {
			continue
		}
		started = started || strings.Contains(line, `msg="syncing commit"`)
		applied = applied || strings.Contains(line, `msg="applied commit"`)
	}
	switch {
	case applied:
		return "after"
	case started:
		return "inside"
	default:
		return "before"
	}
}
