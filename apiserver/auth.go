package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
)

// groupUnauthenticated is the group of anonymous requests, as Kubernetes'
// system:unauthenticated.
const groupUnauthenticated = "system:unauthenticated"

// adminUser is the identity of requests on a plain-HTTP listener
// (development only): the admin credential's.
func adminUser() api.User { return api.User{Name: api.UserAdmin, Groups: []string{api.GroupMasters}} }

// anonymousUser is the identity of a request without a verified client
// certificate.
func anonymousUser() api.User {
	return api.User{Name: api.UserAnonymous, Groups: []string{groupUnauthenticated}}
}

type userKey struct{}

// WithUser returns a copy of ctx that carries u as the request's identity.
func WithUser(ctx context.Context, u api.User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the identity of the request ctx belongs to, and whether
// there is one (the API server sets it on every request it serves).
func UserFrom(ctx context.Context) (api.User, bool) {
	u, ok := ctx.Value(userKey{}).(api.User)
	return u, ok
}

// authenticateRequest returns the identity of req: for a request over TLS, the
// Common Name (user) and Organizations (groups) of its client certificate
// if the TLS handshake verified it against the cluster CA, else anonymous
// (api.UserAnonymous, group system:unauthenticated); a request that did not
// come over TLS came through a plain-HTTP listener, which is for
// development on loopback only: admin (api.UserAdmin, api.GroupMasters).
func authenticateRequest(req *http.Request) api.User {
	if req.TLS == nil {
		return adminUser()
	}
	if len(req.TLS.VerifiedChains) == 0 || len(req.TLS.VerifiedChains[0]) == 0 {
		return anonymousUser()
	}
	leaf := req.TLS.VerifiedChains[0][0]
	if leaf.Subject.CommonName == "" {
		return anonymousUser()
	}
	return api.User{Name: leaf.Subject.CommonName, Groups: append([]string(nil), leaf.Subject.Organization...)}
}

// requestInfo is what a request asks to do, as Kubernetes' RequestInfo:
// a verb on a resource (with namespace, name, subresource), or a verb on a
// path that is no resource (discovery, health, bosun's own endpoints).
type requestInfo struct {
	resourceRequest bool
	path            string
	verb            string // get, list, watch, create, update, patch, delete, deletecollection
	group           string
	resource        string
	subresource     string
	namespace       string
	name            string
}

// parseRequestInfo reads the verb and resource of req from its path and
// method, the way kube-apiserver does, whether or not the resource exists.
func parseRequestInfo(req *http.Request) requestInfo {
	info := requestInfo{path: req.URL.Path, verb: strings.ToLower(req.Method)}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		info.verb = "get"
	case http.MethodPost:
		info.verb = "create"
	case http.MethodPut:
		info.verb = "update"
	}
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		info.group = parts[1]
		parts = parts[3:]
	default:
		return info
	}
	info.resourceRequest = true
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.namespace = parts[1]
		if len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		}
	}
	info.resource = parts[0]
	if len(parts) > 1 {
		info.name = parts[1]
	}
	if len(parts) > 2 {
		info.subresource = parts[2]
	}
	switch {
	case req.Method == http.MethodGet || req.Method == http.MethodHead:
		switch {
		case isWatch(req):
			info.verb = "watch"
		case info.name == "":
			info.verb = "list"
		}
	case req.Method == http.MethodDelete && info.name == "":
		info.verb = "deletecollection"
	}
	return info
}

// qualified returns "resource" or "resource.group".
func (ri requestInfo) qualified() string {
	if ri.group == "" {
		return ri.resource
	}
	return ri.resource + "." + ri.group
}

// errUnauthorized is the 401 of a request that needs an identity.
func errUnauthorized(msg string) *apiError {
	return newStatusError(http.StatusUnauthorized, metav1.StatusReasonUnauthorized, msg)
}

// forbidden is the 403 of a request u may not make, worded as
// kube-apiserver words it, with why.
func forbidden(u api.User, ri requestInfo, why string) *apiError {
	var msg string
	if !ri.resourceRequest {
		msg = fmt.Sprintf("forbidden: User %q cannot %s path %q", u.Name, ri.verb, ri.path)
	} else {
		subject := ri.qualified()
		if ri.name != "" {
			subject += fmt.Sprintf(" %q", ri.name)
		}
		res := ri.resource
		if ri.subresource != "" {
			res += "/" + ri.subresource
		}
		scope := "at the cluster scope"
		if ri.namespace != "" {
			scope = fmt.Sprintf("in the namespace %q", ri.namespace)
		}
		msg = fmt.Sprintf("%s is forbidden: User %q cannot %s resource %q in API group %q %s",
			subject, u.Name, ri.verb, res, ri.group, scope)
	}
	if why != "" {
		msg += ": " + why
	}
	e := newStatusError(http.StatusForbidden, metav1.StatusReasonForbidden, msg)
	if ri.resourceRequest {
		e.status.Details = &metav1.StatusDetails{Name: ri.name, Group: ri.group, Kind: ri.resource}
	}
	return e
}

// anonymousAllowed reports whether a request without identity may be
// made: health, version, the cluster CA, the join (authenticated by its
// bootstrap token; the control-plane join too) and the Git webhook (authenticated by its own secret,
// since forges have no client certificate).
func anonymousAllowed(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		switch req.URL.Path {
		case "/healthz", "/livez", "/readyz", "/version", api.PathClusterInfo:
			return true
		}
		// One health check (/readyz/etcd) tells no more than ?verbose.
		if healthCheckPath(req.URL.Path) {
			return true
		}
	case http.MethodPost:
		switch req.URL.Path {
		case api.PathJoin, api.PathServerJoin, "/hooks/git":
			return true
		}
	}
	return false
}

// healthCheckPath reports whether path is one check of /healthz, /livez
// or /readyz, such as /readyz/etcd.
func healthCheckPath(path string) bool {
	for _, p := range []string{"/healthz/", "/livez/", "/readyz/"} {
		if rest, ok := strings.CutPrefix(path, p); ok && rest != "" && !strings.Contains(rest, "/") {
			return true
		}
	}
	return false
}

// discoveryPath reports whether path is one every identity may read:
// discovery and the OpenAPI documents, as Kubernetes' system:discovery role.
func discoveryPath(path string) bool {
	switch path {
	case "/api", "/api/v1", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi/v2", "/openapi/v3":
		return true
	}
	if strings.HasPrefix(path, "/openapi/v3/") || healthCheckPath(path) {
		return true
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	return parts[0] == "apis" && len(parts) <= 3
}

// authorize decides whether u may make the request described by ri; nil
// means yes. Objects' content is judged later, by admit. Members of
// api.GroupMasters may do everything; node credentials what
// authorizeNode allows; other users only discovery.
func (s *Server) authorize(ctx context.Context, u api.User, req *http.Request, ri requestInfo) *apiError {
	if u.InGroup(api.GroupMasters) {
		return nil
	}
	if anonymousAllowed(req) {
		return nil
	}
	if !ri.resourceRequest && ri.verb == "get" && discoveryPath(ri.path) {
		return nil
	}
	if !ri.resourceRequest && ri.verb == "get" && ri.path == api.PathServers {
		return nil // every identity may learn where the API servers are
	}
	if node, ok := u.NodeName(); ok {
		return s.authorizeNode(ctx, u, node, req, ri)
	}
	if ri.path == api.PathCertificates && req.Method == http.MethodPost {
		return forbidden(u, ri, "only a node credential (group system:nodes) renews its own certificate")
	}
	if ri.resourceRequest {
		return forbidden(u, ri, "no rule allows it: only members of "+api.GroupMasters+" and nodes have access to resources")
	}
	return forbidden(u, ri, "only members of "+api.GroupMasters+" may use this path")
}

// authenticate is the middleware that sets the request's identity and
// refuses what that identity may not do.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u := authenticateRequest(req)
		if rec, ok := w.(*statusRecorder); ok {
			rec.user, rec.groups = u.Name, u.Groups
		}
		ctx := WithUser(req.Context(), u)
		req = req.WithContext(ctx)
		if u.Name == api.UserAnonymous && !anonymousAllowed(req) {
			writeError(w, errUnauthorized("Unauthorized: this request needs a client certificate signed by the cluster CA "+
				"(use the admin kubeconfig the server wrote, or print one with `bosun kubeconfig`)"))
			return
		}
		ri := parseRequestInfo(req)
		if rec, ok := w.(*statusRecorder); ok {
			rec.info = &ri // for the request metrics
		}
		release, ok := s.limits.admitRequest(w, req, u, ri)
		if !ok {
			return
		}
		defer release()
		if aerr := s.authorize(ctx, u, req, ri); aerr != nil {
			writeError(w, aerr)
			return
		}
		next.ServeHTTP(w, req.WithContext(withRequestInfo(ctx, ri)))
	})
}

type infoKey struct{}

func withRequestInfo(ctx context.Context, ri requestInfo) context.Context {
	return context.WithValue(ctx, infoKey{}, ri)
}

func requestInfoFrom(ctx context.Context) (requestInfo, bool) {
	ri, ok := ctx.Value(infoKey{}).(requestInfo)
	return ri, ok
}
