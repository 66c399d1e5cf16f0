package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/bosun-dev/bosun/api"
)

// defaultAgentTransport reaches node agents: no proxy from the
// environment, no overall timeout (logs are followed, exec sessions last).
func defaultAgentTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return t
}

// servePodLog answers GET /api/v1/namespaces/{namespace}/pods/{name}/log by
// proxying to the agent of the pod's node.
func (s *Server) servePodLog(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	fwd := url.Values{}
	for _, p := range []string{"follow", "previous", "timestamps"} {
		if v := q.Get(p); v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				writeError(w, errBadRequest("%s=%q: want true or false", p, v))
				return
			}
			fwd.Set(p, v)
		}
	}
	if v := q.Get("tailLines"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			writeError(w, errBadRequest("tailLines=%q: want a number of lines, 0 or more", v))
			return
		}
		fwd.Set("tailLines", v)
	}
	s.proxyToAgent(w, req, "containerLogs", fwd, nil)
}

// servePodExec answers POST /api/v1/namespaces/{namespace}/pods/{name}/exec
// by proxying the exec stream (package nodeagent/agentapi/execstream) to
// the agent of the pod's node; an upgrade request (kubectl exec over
// SPDY) is proxied as such (servePodStream).
func (s *Server) servePodExec(w http.ResponseWriter, req *http.Request) {
	if httpstream.IsUpgradeRequest(req) {
		s.proxyUpgrade(w, req, "exec")
		return
	}
	q := req.URL.Query()
	cmd := q["command"]
	if len(cmd) == 0 {
		writeError(w, errBadRequest("you must specify at least one command for the container"))
		return
	}
	fwd := url.Values{"command": cmd}
	var body io.Reader
	if v := q.Get("stdin"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, errBadRequest("stdin=%q: want true or false", v))
			return
		}
		if b {
			fwd.Set("stdin", "true")
			body = req.Body
		}
	}
	if v := q.Get("tty"); v != "" && v != "false" && v != "0" {
		writeError(w, errBadRequest("bosun exec does not support a terminal (tty)"))
		return
	}
	// Read stdin from the client while output goes back to it.
	_ = http.NewResponseController(w).EnableFullDuplex()
	s.proxyToAgent(w, req, "exec", fwd, body)
}

// proxyToAgent resolves the pod, its container and its node's agent, sends
// the request there (GET without body, POST with body) and streams the
// answer back, flushing as it comes.
func (s *Server) proxyToAgent(w http.ResponseWriter, req *http.Request, op string, query url.Values, body io.Reader) {
	ns, name := req.PathValue("namespace"), req.PathValue("name")
	pod, aerr := s.readPod(req.Context(), ns, name)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	container, aerr := podContainer(pod, req.URL.Query().Get("container"))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	addr, aerr := s.agentAddress(req.Context(), pod)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	u := url.URL{Scheme: s.scheme, Host: addr,
		Path:     "/" + op + "/" + ns + "/" + name + "/" + container,
		RawQuery: query.Encode()}
	method := http.MethodGet
	if op == "exec" {
		method = http.MethodPost
	}
	out, err := http.NewRequestWithContext(req.Context(), method, u.String(), body)
	if err != nil {
		writeError(w, errInternal(fmt.Errorf("apiserver: request to the agent: %w", err)))
		return
	}
	if body != nil {
		out.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := s.agents.RoundTrip(out)
	if err != nil {
		if req.Context().Err() != nil {
			return // the client left
		}
		writeError(w, errAgentUnreachable(pod, addr, err))
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "X-Content-Type-Options"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	buf := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
				return
			}
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) && req.Context().Err() == nil {
				s.log.Info("stream from a node agent ended early", "node", pod.Spec.NodeName, "pod", ns+"/"+name, "error", rerr)
			}
			return
		}
	}
}

// errAgentUnreachable is the 503 for an agent that cannot be reached.
func errAgentUnreachable(pod *corev1.Pod, addr string, err error) *apiError {
	return newStatusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
		fmt.Sprintf("cannot reach the agent of node %s at %s: %v; is the node's agent running?", pod.Spec.NodeName, addr, rootError(err)))
}

func rootError(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr
	}
	return err
}

// readPod reads a pod, with the API's not-found message.
func (s *Server) readPod(ctx context.Context, ns, name string) (*corev1.Pod, *apiError) {
	r, _ := api.Lookup("pods")
	pod := &corev1.Pod{}
	if err := s.cfg.Store.Get(ctx, ns, name, pod); err != nil {
		return nil, objectError(target{r: r, namespace: ns, name: name}, err)
	}
	return pod, nil
}

// podContainer picks the container: the one named, or the pod's only one.
func podContainer(pod *corev1.Pod, name string) (string, *apiError) {
	var names, inits []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.InitContainers {
		inits = append(inits, c.Name)
	}
	if name == "" {
		if len(names) == 1 {
			return names[0], nil
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " "))
		if len(inits) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: [%s]", strings.Join(inits, " "))
		}
		return "", errBadRequest("%s", msg)
	}
	for _, n := range append(names, inits...) {
		if n == name {
			return name, nil
		}
	}
	return "", errBadRequest("container %s is not valid for pod %s", name, pod.Name)
}

// agentAddress returns host:port of the agent of the pod's node: the
// node's InternalIP (else its first address) and its
// status.daemonEndpoints.kubeletEndpoint.port.
func (s *Server) agentAddress(ctx context.Context, pod *corev1.Pod) (string, *apiError) {
	if pod.Spec.NodeName == "" {
		return "", errBadRequest("pod %s is not scheduled to a node yet: it has no logs and runs no containers; `bosun describe pod %s -n %s` tells why",
			pod.Name, pod.Name, pod.Namespace)
	}
	r, _ := api.Lookup("nodes")
	node := &corev1.Node{}
	if err := s.cfg.Store.Get(ctx, "", pod.Spec.NodeName, node); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return "", newStatusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
				fmt.Sprintf("node %s of pod %s is not registered: its agent has not joined, or the node was deleted", pod.Spec.NodeName, pod.Name))
		}
		return "", objectError(target{r: r, name: pod.Spec.NodeName}, err)
	}
	return nodeAgentAddress(node)
}

// nodeAgentAddress returns host:port of the node's agent: its InternalIP
// (else its first address) and its
// status.daemonEndpoints.kubeletEndpoint.port.
func nodeAgentAddress(node *corev1.Node) (string, *apiError) {
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port <= 0 {
		return "", newStatusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
			fmt.Sprintf("node %s publishes no agent API (status.daemonEndpoints.kubeletEndpoint.port): its agent serves no logs or exec", node.Name))
	}
	var ip string
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			ip = a.Address
			break
		}
	}
	if ip == "" && len(node.Status.Addresses) > 0 {
		ip = node.Status.Addresses[0].Address
	}
	if ip == "" {
		return "", newStatusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
			fmt.Sprintf("node %s reports no address to reach its agent at", node.Name))
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(port))), nil
}
