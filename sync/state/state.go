package state

import (
	"time"

	"github.com/bosun-dev/bosun/manifests"
)

// Results of an attempt to sync a commit.
const (
	// ResultApplied means the commit's manifests are the desired state.
	ResultApplied = "applied"
	// ResultRejected means the commit had invalid manifests and nothing changed.
	ResultRejected = "rejected"
	// ResultFailed means the commit could not be fetched or written (Git or
	// etcd unreachable, a limit exceeded); it is retried.
	ResultFailed = "failed"
	// ResultRolledBack marks a history entry written when bosun reverted an
	// applied commit on its own because the rollout it started failed; the
	// entry's RolledBack says how.
	ResultRolledBack = "rolled-back"
	// ResultWaiting means the commit is valid but held back: the sync loop
	// is suspended or frozen, or the sync policy is manual. It is applied
	// once nothing holds it (unless a newer commit comes first: the newest
	// wins).
	ResultWaiting = "waiting"
	// ResultControl marks a history entry that records a change of the
	// sync's controls (suspend, resume, freeze, unfreeze, a manual sync);
	// the entry's Message says what and who.
	ResultControl = "control"
)

// Control is how people steer the sync loop: `bosun suspend`/`resume`,
// `bosun freeze`/`unfreeze`, `bosun sync` under the manual sync policy.
type Control struct {
	// Suspended, when set, stops applying commits until `bosun resume`.
	Suspended *Hold `json:"suspended,omitempty"`
	// Frozen, when set, holds commits until its Until (or `bosun
	// unfreeze`); rollbacks pass unless the server forbids it.
	Frozen *Hold `json:"frozen,omitempty"`
	// Approved is the commit `bosun sync` asked to apply under the manual
	// sync policy.
	Approved string `json:"approved,omitempty"`
	// AcceptedRewrite is the head `bosun accept-rewrite` accepted although
	// it does not descend from the synced commit (history rewritten).
	AcceptedRewrite string `json:"acceptedRewrite,omitempty"`
}

// Hold is one reason the sync loop holds commits back.
type Hold struct {
	// By names who asked (the API user), Reason why.
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
	// Since is when; Until, when not zero, is when a freeze ends by itself.
	Since time.Time `json:"since"`
	Until time.Time `json:"until,omitzero"`
}

// Active reports whether h holds commits at now.
func (h *Hold) Active(now time.Time) bool {
	return h != nil && (h.Until.IsZero() || now.Before(h.Until))
}

// CommitInfo identifies a Git commit.
type CommitInfo struct {
	// SHA is the full commit hash.
	SHA string `json:"sha"`
	// Author is "Name <email>".
	Author string `json:"author,omitempty"`
	// Subject is the first line of the commit message.
	Subject string `json:"subject,omitempty"`
	// Time is the author time.
	Time time.Time `json:"time,omitzero"`
	// SignedBy names who signed the commit when its signature was verified
	// good: "Alice <alice@example.com> (key 0123456789ABCDEF)". Empty when
	// signatures are not verified or the signature is not good.
	SignedBy string `json:"signedBy,omitempty"`
	// Signature is the outcome of the signature check, for people: "good
	// signature from Alice <alice@example.com> (key 0123456789ABCDEF)",
	// "unsigned", "signed by unknown key 0123456789ABCDEF", "bad signature
	// ...". Empty when signatures are not verified.
	Signature string `json:"signature,omitempty"`
}

// Short returns the first 8 characters of the SHA.
func (c CommitInfo) Short() string {
	if len(c.SHA) > 8 {
		return c.SHA[:8]
	}
	return c.SHA
}

// Attempt is the outcome of one try to sync one commit.
type Attempt struct {
	// Commit is the commit tried.
	Commit CommitInfo `json:"commit"`
	// Time is when bosun tried it.
	Time time.Time `json:"time"`
	// Result is ResultApplied, ResultRejected, ResultFailed or
	// ResultRolledBack.
	Result string `json:"result"`
	// Message says why, for a rejected or failed attempt, or notes
	// something about an applied one.
	Message string `json:"message,omitempty"`
	// Problems are the commit's manifest problems: the errors of a rejected
	// commit, the warnings of an applied one.
	Problems manifests.Problems `json:"problems,omitempty"`
	// Created, Updated and Pruned count the objects an applied commit wrote.
	Created int `json:"created,omitempty"`
	Updated int `json:"updated,omitempty"`
	Pruned  int `json:"pruned,omitempty"`
	// RolledBack is set on ResultRolledBack entries: Commit was reverted by
	// the commit RolledBack.RevertSHA.
	RolledBack *Rollback `json:"rolledBack,omitempty"`
}

// Rollback records an automatic revert of an applied commit whose rollout
// failed.
type Rollback struct {
	// RevertSHA is the revert commit bosun pushed; empty when the revert
	// could not be made (Error then says why).
	RevertSHA string `json:"revertSHA,omitempty"`
	// Object names what failed to roll out: "Deployment demo/hello".
	Object string `json:"object,omitempty"`
	// Reason says why the rollout was judged failed (also the revert's commit body).
	Reason string `json:"reason"`
	// Error is set when bosun tried and failed to push the revert.
	Error string `json:"error,omitempty"`
}

// Status is the sync loop's record of where it stands.
type Status struct {
	// Repo, Branch and Path are the source bosun syncs (the server's
	// --repo, --branch and --path).
	Repo   string `json:"repo"`
	Branch string `json:"branch,omitempty"`
	Path   string `json:"path,omitempty"`
	// Synced is the last commit whose manifests were applied; nil before
	// the first successful sync.
	Synced *Attempt `json:"synced,omitempty"`
	// LastAttempt is the most recent attempt, successful or not.
	LastAttempt *Attempt `json:"lastAttempt,omitempty"`
	// Objects is the number of objects the synced commit defines.
	Objects int `json:"objects"`
	// Windows are the sync windows of the synced commit: they decide when
	// the next commits may be applied.
	Windows []manifests.SyncWindowAt `json:"windows,omitempty"`
	// Control and SyncPolicy are filled in by the API when it answers (they
	// are stored apart): what holds commits back, and "manual" under the
	// manual sync policy ("" for automatic).
	Control    Control `json:"control,omitzero"`
	SyncPolicy string  `json:"syncPolicy,omitempty"`
	// StoreAlarms, filled in by the API, are etcd's raised alarms (e.g.
	// NOSPACE: the database reached its quota and every write, the sync's
	// records included, is refused), each said in a sentence.
	StoreAlarms []string `json:"storeAlarms,omitempty"`
}
