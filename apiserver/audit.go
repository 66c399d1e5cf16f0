package apiserver

import (
	"net/http"
	"time"

	"github.com/bosun-dev/bosun/audit"
)

// audit writes the audit event of a request once it is answered: every
// write of an object (allowed or not) and every request refused for who
// made it or how many (401, 403, 429). Reads that were served are not audited, as
// kube-apiserver's policies usually leave them out.
func (s *Server) audit(r *http.Request, rec *statusRecorder, received time.Time) {
	if s.cfg.Audit == nil {
		return
	}
	ri := rec.info
	if ri == nil {
		info := parseRequestInfo(r)
		ri = &info
	}
	refused := rec.code == http.StatusUnauthorized || rec.code == http.StatusForbidden || rec.code == http.StatusTooManyRequests
	if !refused && (!mutatingVerb(ri.verb) || !ri.resourceRequest) {
		// Reads; and the webhook and control endpoints, whose effects
		// (syncs, control changes) are audited where they are recorded.
		return
	}
	var obj audit.ObjectRef
	if ri.resourceRequest {
		obj = audit.ObjectRef{Resource: ri.resource, Namespace: ri.namespace, Name: ri.name, APIGroup: ri.group,
			APIVersion: apiVersionOf(r.URL.Path), Subresource: ri.subresource}
	}
	status := audit.ResponseStatus{Code: rec.code}
	if rec.refusal != nil {
		status.Reason, status.Message = string(rec.refusal.Reason), rec.refusal.Message
	}
	user := audit.UserInfo{Username: rec.user, Groups: rec.groups}
	s.cfg.Audit.Log(r.Context(), audit.RequestEvent(r, received, user, ri.verb, obj, status))
}
