package apiserver

import (
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"k8s.io/streaming/pkg/httpstream"
)

// servePodStream returns the handler of a pod subresource kubectl
// streams through (op is exec, attach or portforward: an upgrade to
// WebSocket or SPDY). It proxies the upgrade to the agent of the pod's
// node, which speaks the protocols (package nodeagent/agentapi): the API
// server has authenticated and authorized the user, and relays bytes both
// ways.
func (s *Server) servePodStream(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if !httpstream.IsUpgradeRequest(req) {
			writeError(w, errBadRequest("Upgrade request required: pods/%s speaks WebSocket or SPDY, as kubectl exec, attach and port-forward do", op))
			return
		}
		s.proxyUpgrade(w, req, op)
	}
}

func (s *Server) proxyUpgrade(w http.ResponseWriter, req *http.Request, op string) {
	ns, name := req.PathValue("namespace"), req.PathValue("name")
	pod, aerr := s.readPod(req.Context(), ns, name)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	q := req.URL.Query()
	fwd := url.Values{}
	path := "/portForward/" + ns + "/" + name
	if op != "portforward" {
		container, aerr := podContainer(pod, q.Get("container"))
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		path = "/" + op + "/" + ns + "/" + name + "/" + container
		// kubelet's names of the stream options.
		for from, to := range map[string]string{"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"} {
			if v := q.Get(from); v != "" && v != "false" && v != "0" {
				fwd.Set(to, "1")
			}
		}
		if op == "exec" {
			fwd["command"] = q["command"]
		}
	} else if ports := q["ports"]; len(ports) > 0 {
		fwd["port"] = ports
	}
	addr, aerr := s.agentAddress(req.Context(), pod)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	target := &url.URL{Scheme: s.scheme, Host: addr, Path: path, RawQuery: fwd.Encode()}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = ""
			// The agent trusts the API server's certificate, not the
			// user's credentials: none of them go on.
			pr.Out.Header.Del("Authorization")
			for h := range pr.Out.Header {
				if strings.HasPrefix(h, "Impersonate-") {
					pr.Out.Header.Del(h)
				}
			}
		},
		Transport:     s.agents,
		FlushInterval: -1,
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelInfo),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client left
			}
			writeError(w, errAgentUnreachable(pod, addr, err))
		},
	}
	proxy.ServeHTTP(w, req)
}
