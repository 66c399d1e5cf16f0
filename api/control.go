package api

import "time"

// Paths of the sync's controls (bosun freeze, suspend, sync).
const (
	// PathFreeze: POST a ControlRequest freezes syncing (Until, Reason);
	// DELETE unfreezes.
	PathFreeze = "/bosun/v1/freeze"
	// PathSuspend: POST suspends syncing (Reason); DELETE resumes.
	PathSuspend = "/bosun/v1/suspend"
	// PathSync: POST applies the branch head now; under the manual sync
	// policy it approves that commit (Commit, when set, must be it).
	PathSync = "/bosun/v1/sync"
	// PathAcceptRewrite: POST accepts the branch head although it does not
	// descend from the synced commit (Commit, when set, must be it).
	PathAcceptRewrite = "/bosun/v1/accept-rewrite"
)

// ControlRequest is the body of a POST to a control path.
type ControlRequest struct {
	// Reason says why, for the status and history.
	Reason string `json:"reason,omitempty"`
	// Until ends a freeze by itself; zero freezes until unfrozen.
	Until time.Time `json:"until,omitzero"`
	// Commit is the commit `bosun sync` means (a SHA or a prefix of at
	// least 7 characters); "" is the branch head.
	Commit string `json:"commit,omitempty"`
}
