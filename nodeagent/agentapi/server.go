package agentapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// DefaultPort is the port the agent's API listens on unless told
// otherwise: kubelet's.
const DefaultPort = 10250

// DefaultPollInterval is how often a followed log is checked for new
// lines, rotation and the container's exit.
const DefaultPollInterval = 200 * time.Millisecond

// PodLookup finds the pods the agent runs. *nodeagent.Agent implements it.
type PodLookup interface {
	// LookupPod returns the pod namespace/name the agent runs (the caller
	// does not modify it); ok is false when it runs no such pod.
	LookupPod(namespace, name string) (pod *corev1.Pod, ok bool)
}

// LogLocator knows where containers' logs are written. The containerd
// runtime (*containerd.Runtime) implements it.
type LogLocator interface {
	// LogPath returns the log file, in CRI's format, of attempt of the
	// container named name in the pod with UID podUID. Once rotated, the
	// older part is the same path plus ".1".
	LogPath(podUID, name string, attempt uint32) string
}

// Execer runs commands in running containers. The containerd runtime and
// the fake of package runtimetest implement it.
type Execer interface {
	// Exec runs cmd in container id with the given streams (stdin may be
	// nil) and returns its exit code once it ended and its output is
	// copied. runtime.ErrNotFound for an unknown container,
	// runtime.ErrInvalidState when it does not run.
	Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) (int, error)
}

// SummaryProvider answers kubelet's stats summary. *stats.Collector
// implements it.
type SummaryProvider interface {
	// Summary returns the node's and its pods' usage, and the window CPU
	// rates are averaged over; nil before the first sample.
	Summary() (*statsv1alpha1.Summary, time.Duration)
}

// Config configures a Server. Pods and Runtime are required, and
// GetCertificate and ClientCAs unless Insecure.
type Config struct {
	// Addresses are the host:port addresses Run listens on, e.g.
	// Addresses(nodeIP, DefaultPort).
	Addresses []string
	// Pods maps namespace/name to the pods the agent runs.
	Pods PodLookup
	// Runtime lists the pods' containers; exec needs it to implement Execer.
	Runtime runtime.ContainerManager
	// Logs locates log files; nil: logs are refused (501).
	Logs LogLocator
	// Stats answers GET /stats/summary; nil: 501.
	Stats SummaryProvider
	// Logger receives one debug record per request; nil discards.
	Logger *slog.Logger
	// Metrics, when not nil, serves GET /metrics: the agent's Prometheus
	// metrics (package metrics' Handler).
	Metrics http.Handler
	// PollInterval is how often followed logs are checked; default
	// DefaultPollInterval.
	PollInterval time.Duration
	// GetCertificate returns the certificate the API serves TLS with (the
	// node's, read afresh for every connection so that a renewed
	// certificate is used without a restart).
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ClientCAs verifies client certificates (the cluster CA). A request
	// without one is refused with 401; a certificate from another CA fails
	// the TLS handshake.
	ClientCAs *x509.CertPool
	// Insecure serves plain HTTP and authenticates nothing: only for tests
	// whose API server still proxies over plain HTTP. GetCertificate and
	// ClientCAs must then be nil.
	Insecure bool
}

// Server is the agent's API. Create it with New.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Pods == nil {
		return nil, errors.New("agentapi: a pod lookup is required")
	}
	if cfg.Runtime == nil {
		return nil, errors.New("agentapi: a runtime is required")
	}
	if cfg.Insecure && (cfg.GetCertificate != nil || cfg.ClientCAs != nil) {
		return nil, errors.New("agentapi: Insecure serves plain HTTP: it takes no GetCertificate or ClientCAs")
	}
	if !cfg.Insecure && cfg.GetCertificate == nil {
		return nil, errors.New("agentapi: a serving certificate (Config.GetCertificate) is required")
	}
	if !cfg.Insecure && cfg.ClientCAs == nil {
		return nil, errors.New("agentapi: the CA that verifies client certificates (Config.ClientCAs) is required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Positive(&cfg.PollInterval, DefaultPollInterval)
	s := &Server{cfg: cfg, log: cfg.Logger}
	mux := http.NewServeMux()
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", s.cfg.Metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", handle(s.logs))
	mux.HandleFunc("GET "+api.PathStatsSummary, handle(s.summary))
	mux.HandleFunc("POST /exec/{namespace}/{pod}/{container}", handle(s.exec))
	mux.HandleFunc("GET /exec/{namespace}/{pod}/{container}", handle(s.streamExec))
	mux.HandleFunc("/attach/{namespace}/{pod}/{container}", handle(s.attach))
	mux.HandleFunc("/portForward/{namespace}/{pod}", handle(s.portForward))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusNotFound, metav1.StatusReasonNotFound, "the agent serves no %s %s", r.Method, r.URL.Path))
	})
	var h http.Handler = mux
	if !cfg.Insecure {
		h = authorize(mux)
	}
	s.handler = s.logRequests(h)
	return s, nil
}

// Addresses returns the addresses an agent listens on by default:
// 127.0.0.1 and the node's IP (when it is another address), with port.
func Addresses(nodeIP string, port int) []string {
	p := strconv.Itoa(port)
	out := []string{net.JoinHostPort("127.0.0.1", p)}
	if ip := net.ParseIP(nodeIP); ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
		out = append(out, net.JoinHostPort(ip.String(), p))
	}
	return out
}

// Handler returns the http.Handler serving the API. Unless
// Config.Insecure, it authenticates requests by the verified client
// certificate of their TLS connection (http.Request.TLS), so it must be
// served with TLSConfig, as Serve does.
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig returns the server side of the API's TLS: Config.GetCertificate,
// client certificates verified against Config.ClientCAs when given
// (tls.VerifyClientCertIfGiven: a request without one is answered 401),
// HTTP/1.1 only (exec is a full-duplex HTTP/1.1 exchange). It is nil when
// Config.Insecure.
func (s *Server) TLSConfig() *tls.Config {
	if s.cfg.Insecure {
		return nil
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.cfg.GetCertificate,
		ClientCAs:      s.cfg.ClientCAs,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		NextProtos:     []string{"http/1.1"},
	}
}

// authorize lets through requests whose verified client certificate names
// a user in api.GroupMasters (the API server's credential): none is 401
// Unauthorized, another identity 403 Forbidden.
func authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := userOf(r)
		if !ok {
			writeError(w, newError(http.StatusUnauthorized, metav1.StatusReasonUnauthorized,
				"Unauthorized: the agent API requires a client certificate signed by the cluster CA"))
			return
		}
		if !u.InGroup(api.GroupMasters) {
			writeError(w, newError(http.StatusForbidden, metav1.StatusReasonForbidden,
				"user %q (groups %q) cannot %s %s on the node agent: only group %s (the API server's credential) may use the agent API",
				u.Name, u.Groups, r.Method, r.URL.Path, api.GroupMasters))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// userOf returns the identity of the request's verified client
// certificate: Common Name as the user, Organizations as the groups.
func userOf(r *http.Request) (api.User, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return api.User{}, false
	}
	cert := r.TLS.VerifiedChains[0][0]
	if cert.Subject.CommonName == "" {
		return api.User{}, false
	}
	return api.User{Name: cert.Subject.CommonName, Groups: cert.Subject.Organization}, true
}

// Run listens on every Config.Addresses and serves until ctx ends; it
// returns nil then, or the first error listening or serving.
func (s *Server) Run(ctx context.Context) error {
	if len(s.cfg.Addresses) == 0 {
		return errors.New("agentapi: no address to listen on")
	}
	var lns []net.Listener
	for _, addr := range s.cfg.Addresses {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("agentapi: listen on %s: %w", addr, err)
		}
		lns = append(lns, ln)
	}
	return s.Serve(ctx, lns...)
}

// Serve serves the API on the listeners (TCP listeners: Serve adds TLS
// unless Config.Insecure) until ctx ends (open log streams and exec
// sessions are ended), then returns nil. It closes the listeners.
func (s *Server) Serve(ctx context.Context, lns ...net.Listener) error {
	tlsConfig := s.TLSConfig()
	mode := "HTTPS, client certificates of group " + api.GroupMasters + " only"
	if tlsConfig == nil {
		mode = "plain HTTP, no authentication"
	}
	reqCtx, cancelReqs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReqs()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
	}
	errc := make(chan error, len(lns))
	var wg sync.WaitGroup
	for _, ln := range lns {
		s.log.Info("serving the agent API (logs, exec)", "address", ln.Addr().String(), "mode", mode)
		if tlsConfig != nil {
			ln = tls.NewListener(ln, tlsConfig)
		}
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("agentapi: serve on %s: %w", ln.Addr(), err)
			}
		})
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	cancelReqs()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutCtx); serr != nil {
		_ = srv.Close()
	}
	wg.Wait()
	return err
}

// logRequests logs every request at debug level.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		u, _ := userOf(r)
		s.log.Debug("agent API request", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery,
			"user", u.Name, "duration", time.Since(start))
	})
}

// apiError is an error the API answers with, as a metav1.Status.
type apiError struct {
	status metav1.Status
}

func (e *apiError) Error() string { return e.status.Message }

func newError(code int, reason metav1.StatusReason, format string, args ...any) *apiError {
	return &apiError{status: metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  fmt.Sprintf(format, args...),
		Reason:   reason,
		Code:     int32(code),
	}}
}

func badRequest(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, metav1.StatusReasonBadRequest, format, args...)
}

// handle adapts a handler that returns its error, which is written as a
// metav1.Status.
func handle(f func(http.ResponseWriter, *http.Request) *apiError) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			writeError(w, err)
		}
	}
}

func writeError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(e.status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(e.status.Code))
	_, _ = w.Write(append(b, '\n'))
}

// containers returns the pod's UID and the runtime's instances of its
// container name, newest attempt first.
func (s *Server) containers(ctx context.Context, namespace, podName, name string) (*corev1.Pod, []runtime.Container, *apiError) {
	pod, ok := s.cfg.Pods.LookupPod(namespace, podName)
	if !ok {
		return nil, nil, newError(http.StatusNotFound, metav1.StatusReasonNotFound,
			"pod %q in namespace %q does not run on this node", podName, namespace)
	}
	if !hasContainer(pod, name) {
		return nil, nil, badRequest("container %s is not valid for pod %s", name, podName)
	}
	all, err := s.cfg.Runtime.ListContainers(ctx, runtime.ContainerFilter{PodUID: string(pod.UID)})
	if err != nil {
		return nil, nil, newError(http.StatusInternalServerError, metav1.StatusReasonInternalError,
			"agentapi: list the containers of pod %s/%s: %v", namespace, podName, err)
	}
	var mine []runtime.Container
	for _, c := range all {
		if c.Metadata.Name == name {
			mine = append(mine, c)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Metadata.Attempt > mine[j].Metadata.Attempt })
	return pod, mine, nil
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// boolParam reads a kubelet-style boolean query parameter.
func boolParam(r *http.Request, name string) (bool, *apiError) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("%s=%q: want true or false", name, v)
	}
	return b, nil
}
