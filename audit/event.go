package audit

import (
	"net"
	"net/http"
	"time"
)

// Stages and levels of Kubernetes' audit vocabulary used by bosun.
const (
	// StageResponseComplete marks an API request answered (written or refused).
	StageResponseComplete = "ResponseComplete"
	// LevelMetadata says the event carries metadata only, no request or
	// response bodies.
	LevelMetadata = "Metadata"
	// KindEvent and APIVersion are the kind and apiVersion of every line,
	// as kube-apiserver writes them.
	KindEvent  = "Event"
	APIVersion = "audit.k8s.io/v1"
)

// Verbs of bosun's sync events; API requests use Kubernetes' verbs
// (create, update, patch, delete, ...).
const (
	VerbSync          = "sync"
	VerbRollback      = "rollback"
	VerbAcceptRewrite = "accept-rewrite"
	VerbApprove       = "approve"
	VerbFreeze        = "freeze"
	VerbUnfreeze      = "unfreeze"
	VerbSuspend       = "suspend"
	VerbResume        = "resume"
)

// Event is one line of the audit log. Its JSON names are those of
// Kubernetes' audit.k8s.io/v1 Event; Commit, Result and Message are
// bosun's, set on sync events.
type Event struct {
	// Kind and APIVersion are KindEvent and APIVersion; Log fills them in.
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	// Level is LevelMetadata; Log fills it in.
	Level string `json:"level"`
	// AuditID identifies the event; Log generates one when empty.
	AuditID string `json:"auditID"`
	// Stage is StageResponseComplete for API requests, empty for sync events.
	Stage string `json:"stage,omitempty"`
	// RequestURI is the request's path and query (API requests only).
	RequestURI string `json:"requestURI,omitempty"`
	// Verb is a Kubernetes verb or one of bosun's Verb constants.
	Verb string `json:"verb"`
	// User is who did it: the API user, or bosun's own identity for the
	// sync loop ("system:bosun:sync") and automatic rollback.
	User UserInfo `json:"user"`
	// SourceIPs are the client's addresses (API requests only).
	SourceIPs []string `json:"sourceIPs,omitempty"`
	// UserAgent is the client's User-Agent header (API requests only).
	UserAgent string `json:"userAgent,omitempty"`
	// ObjectRef names the object acted on, when there is one.
	ObjectRef *ObjectRef `json:"objectRef,omitempty"`
	// ResponseStatus is the API's answer (API requests only).
	ResponseStatus *ResponseStatus `json:"responseStatus,omitempty"`
	// RequestReceivedTimestamp is when the request arrived or the sync
	// attempt was made.
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp,omitzero"`
	// StageTimestamp is when the event was logged; Log sets it when zero.
	StageTimestamp time.Time `json:"stageTimestamp,omitzero"`
	// Commit is the Git commit a sync event is about.
	Commit *Commit `json:"commit,omitempty"`
	// Result is a sync event's outcome: applied, rejected, failed, waiting,
	// rolled-back or control (the records' results).
	Result string `json:"result,omitempty"`
	// Message says why or what, in the words of bosun status and history.
	Message string `json:"message,omitempty"`
}

// UserInfo is who made a request.
type UserInfo struct {
	// Username is the user's name (a certificate's CN).
	Username string `json:"username"`
	// Groups are the user's groups (a certificate's O).
	Groups []string `json:"groups,omitempty"`
}

// ObjectRef names the object a request acted on.
type ObjectRef struct {
	Resource   string `json:"resource,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	APIGroup   string `json:"apiGroup,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	// Subresource is e.g. "scale" or "status".
	Subresource string `json:"subresource,omitempty"`
}

// ResponseStatus is the outcome of an API request, as metav1.Status
// reports it.
type ResponseStatus struct {
	// Code is the HTTP status code.
	Code int `json:"code"`
	// Reason is the Status reason of a refusal ("Invalid", "Forbidden", ...).
	Reason string `json:"reason,omitempty"`
	// Message is the Status message of a refusal.
	Message string `json:"message,omitempty"`
}

// Commit identifies the Git commit of a sync event.
type Commit struct {
	SHA     string `json:"sha"`
	Author  string `json:"author,omitempty"`
	Subject string `json:"subject,omitempty"`
	// RevertSHA is the revert commit of an automatic rollback.
	RevertSHA string `json:"revertSHA,omitempty"`
}

// RequestEvent builds the event of one API write or refusal: req is the
// request received at received, user who sent it, verb the Kubernetes verb
// (create, update, patch, delete, deletecollection, ...), obj what it
// addressed and status the answer. Source IPs are the connection's peer
// only: forwarded-for headers are not trusted.
func RequestEvent(req *http.Request, received time.Time, user UserInfo, verb string, obj ObjectRef, status ResponseStatus) Event {
	e := Event{
		Stage:                    StageResponseComplete,
		RequestURI:               req.URL.RequestURI(),
		Verb:                     verb,
		User:                     user,
		UserAgent:                req.UserAgent(),
		ResponseStatus:           &status,
		RequestReceivedTimestamp: received,
	}
	if obj != (ObjectRef{}) {
		e.ObjectRef = &obj
	}
	if ip := peerIP(req.RemoteAddr); ip != "" {
		e.SourceIPs = []string{ip}
	}
	return e
}

// peerIP returns the host of a "host:port" remote address, or the address
// itself when it has no port.
func peerIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}
