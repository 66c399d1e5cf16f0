package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver/openapi"
	"github.com/bosun-dev/bosun/audit"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/podsecurity"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/tokens"
)

// DefaultMaxBodyBytes is the largest request body the server reads.
const DefaultMaxBodyBytes = 3 << 20

// Config holds what a Server needs. Store is required.
type Config struct {
	// Store holds the objects the API serves.
	Store *store.Store
	// Logger receives one debug record per request and errors; nil discards.
	Logger *slog.Logger
	// Hooks, when set, serves POST /hooks/git (the Git webhook receiver).
	Hooks http.Handler
	// Ready, when set, is the readiness check "sync" of /readyz (e.g. "the
	// first sync is done"); a non-nil error makes /readyz answer 500 with
	// it (health.go).
	Ready func(ctx context.Context) error
	// LiveChecks are checks of /livez (and /readyz, /healthz) besides
	// ping and etcd, e.g. a component's Component.Check.
	LiveChecks []HealthCheck
	// ReadyChecks are checks of /readyz only, after sync, such as
	// "controllers".
	ReadyChecks []HealthCheck
	// EtcdCheckTimeout bounds the quorum read of the etcd health check;
	// 0 means DefaultEtcdCheckTimeout.
	EtcdCheckTimeout time.Duration
	// Version is bosun's version, reported by /version as build metadata.
	Version string
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Now is the clock used for table ages; nil means time.Now.
	Now func() time.Time
	// ShutdownTimeout bounds the graceful shutdown in Serve; 0 means 5s.
	ShutdownTimeout time.Duration
	// Profiling serves Go's profiles under /debug/pprof/, as kube-apiserver
	// does with --profiling.
	Profiling bool
	// Metrics, when not nil, receives the API's request metrics
	// (apiserver_request_total, apiserver_request_duration_seconds).
	Metrics prometheus.Registerer
	// TriggerSync, when set, asks the sync loop (on whichever server leads
	// it) to look at the branch now: after a change of the sync's controls.
	TriggerSync func()
	// BranchHead, when set, reads the tracked branch's head, which `bosun
	// sync` approves.
	BranchHead func(ctx context.Context) (string, error)
	// SyncPolicy is "manual" under --sync-policy manual, shown in the
	// status; "" otherwise.
	SyncPolicy string
	// GitWrites, when not nil (bosun server --api-writes=commit), turns
	// writes of objects from Git that change only replicas or container
	// images (kubectl scale, set image, and edits, applies and rollbacks
	// that change no more) into commits, answered once synced; other
	// writes of them are refused as without it.
	GitWrites GitWrites
	// Recorder, when not nil, records Events of operational writes made
	// through the API (a node cordoned, its labels or taints changed, a pod
	// deleted or evicted), naming who made them.
	Recorder *events.Recorder
	// MetricsHandler, when not nil, serves GET /metrics (to members of
	// api.GroupMasters): the process's metrics, package metrics' Handler.
	MetricsHandler http.Handler
	// AgentTransport carries pod log and exec requests to node agents
	// (package nodeagent/agentapi); nil means a plain HTTP transport that
	// ignores proxy environment variables. For HTTPS agents it presents
	// the API server's client certificate (bosun:apiserver) and verifies
	// the agents' against the cluster CA.
	AgentTransport http.RoundTripper
	// AgentScheme is "https" or "http", how agents are called; "" means
	// https when AgentTransport is an *http.Transport with a
	// TLSClientConfig, else http.
	AgentScheme string

	// Signer is the cluster CA: it serves api.PathClusterInfo, signs
	// joining and renewing nodes' certificates, and (unless ClientCAs is
	// set) verifies client certificates. Nil: those endpoints answer 503.
	Signer Signer
	// Tokens stores bootstrap tokens; nil means a *tokens.Store on
	// Store's etcd client with the clock Now.
	Tokens Tokens
	// GetCertificate returns the HTTPS serving certificate for each
	// handshake, so a renewed one is used without a restart. Required by
	// TLSConfig, ServeTLS and RunTLS.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ClientCAs verifies client certificates on HTTPS; nil means a pool of
	// Signer's CA certificate.
	ClientCAs *x509.CertPool
	// ServerURL is the API's URL that join commands name (e.g.
	// "https://10.0.0.1:6443"); "" means https:// and the Host the token
	// request was sent to.
	ServerURL string
	// ControlPlane, when set, lets servers join the control plane through
	// api.PathServerJoin (with a server token); nil: that endpoint
	// answers 503.
	ControlPlane ControlPlane
	// Servers lists the cluster's running API servers, served at
	// api.PathServers to every authenticated user; nil: 503.
	Servers func(ctx context.Context) ([]api.ServerInfo, error)
	// PodSecurity, when not nil, checks pods created or changed through
	// the API (nodes' mirror pods) against their namespace's Pod Security
	// level, as sync checks the pods of a commit.
	PodSecurity *podsecurity.Policy
	// ServiceCIDR is the cluster's Service range, published at
	// api.PathClusterInfo for agents' service proxies.
	ServiceCIDR string
	// Audit, when not nil, receives one audit event per write (create,
	// update, patch, delete, whether allowed or not) and per refused
	// request (401, 403, 429), and the control changes (freeze, suspend,
	// sync, accept-rewrite) with who asked.
	Audit *audit.Logger
	// MaxRequestsInFlight and MaxMutatingRequestsInFlight bound the
	// read-only and the mutating requests served at once (watches, logs
	// followed, exec, attach and port-forward are not counted); beyond
	// them a request gets 429 with Retry-After, as kube-apiserver's flags
	// of those names. 0 means DefaultMaxRequestsInFlight and
	// DefaultMaxMutatingRequestsInFlight.
	MaxRequestsInFlight, MaxMutatingRequestsInFlight int
	// MaxWatchesPerClient bounds the watches one identity holds open at
	// once (429 beyond) on the HTTPS listener, where requests have
	// identities; 0 means DefaultMaxWatchesPerClient.
	MaxWatchesPerClient int
	// NodeGracePeriod is how recently a Ready node must have renewed its
	// Lease for a join under its name to be refused (409); 0 means
	// DefaultNodeGracePeriod.
	NodeGracePeriod time.Duration
}

// Server is bosun's HTTP API. Create it with New.
type Server struct {
	cfg       Config
	log       *slog.Logger
	resources []api.Resource
	handler   http.Handler
	agents    http.RoundTripper
	scheme    string // of agents' URLs
	tokens    Tokens
	metrics   *requestMetrics // nil without Config.Metrics
	limits    *limits
	apply     *applier
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	defaults.Logger(&cfg.Logger)
	defaults.Positive(&cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	if cfg.AgentScheme == "" {
		// Decided on the transport given: the default one is for HTTP.
		cfg.AgentScheme = "http"
		if t, ok := cfg.AgentTransport.(*http.Transport); ok && t.TLSClientConfig != nil {
			cfg.AgentScheme = "https"
		}
	}
	if cfg.AgentTransport == nil {
		cfg.AgentTransport = defaultAgentTransport()
	}
	defaults.Positive(&cfg.NodeGracePeriod, DefaultNodeGracePeriod)
	defaults.Positive(&cfg.MaxRequestsInFlight, DefaultMaxRequestsInFlight)
	defaults.Positive(&cfg.MaxMutatingRequestsInFlight, DefaultMaxMutatingRequestsInFlight)
	defaults.Positive(&cfg.MaxWatchesPerClient, DefaultMaxWatchesPerClient)
	if cfg.Tokens == nil && cfg.Store != nil {
		cfg.Tokens = tokens.New(cfg.Store.Client(), nowClock(cfg.Now))
	}
	s := &Server{cfg: cfg, log: cfg.Logger, resources: api.Resources(), agents: cfg.AgentTransport,
		scheme: cfg.AgentScheme, tokens: cfg.Tokens}
	if cfg.Metrics != nil {
		s.metrics = newRequestMetrics(cfg.Metrics)
	}
	s.apply = newApplier(s.resources)
	s.limits = newLimits(cfg.MaxRequestsInFlight, cfg.MaxMutatingRequestsInFlight, cfg.MaxWatchesPerClient)
	s.handler = s.middleware(s.authenticate(s.routes()))
	return s
}

// Handler returns the http.Handler serving the whole API.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen opens a TCP listener on addr ("127.0.0.1:0" picks a free port; the
// listener's Addr tells which).
func (s *Server) Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("apiserver: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves the API over plain HTTP on ln until ctx ends, then shuts
// down gracefully (open watches are ended) and returns nil. It closes ln.
// Every request on it is admin's: serve plain HTTP on loopback only, for
// development (see CheckLoopback).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, nil)
}

// serve serves on ln, over TLS when tlsCfg is not nil.
func (s *Server) serve(ctx context.Context, ln net.Listener, tlsCfg *tls.Config) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsCfg,
	}
	// Long-running requests (watches) end when the server shuts down.
	watchCtx, cancelWatches := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWatches()
	srv.BaseContext = func(net.Listener) context.Context { return watchCtx }

	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	s.log.Info("serving the API", "address", ln.Addr().String(), "tls", tlsCfg != nil)

	select {
	case err := <-errc:
		return fmt.Errorf("apiserver: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	cancelWatches()
	shutCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("apiserver: shut down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("apiserver: serve on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Run listens on addr and serves plain HTTP (admin, see Serve) until ctx ends. ready, when not nil, is
// called with the bound address once the listener is open.
func (s *Server) Run(ctx context.Context, addr string, ready func(addr net.Addr)) error {
	ln, err := s.Listen(addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return s.Serve(ctx, ln)
}

// statusRecorder remembers the status code written, for logging, and
// passes Flush through for watches.
type statusRecorder struct {
	http.ResponseWriter
	code    int
	wrote   bool
	user    string       // the request's identity, once authenticated
	groups  []string     // its groups
	info    *requestInfo // what the request asks, once authenticated
	refusal *metav1.Status
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.code, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware logs every request at debug level and turns panics into 500s.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving a request", "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.wrote {
					writeError(rec, errInternal(fmt.Errorf("panic: %v", p)))
				}
			}
			d := time.Since(start)
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery,
				"user", rec.user, "code", rec.code, "duration", d)
			s.metrics.observe(r, rec, d)
			s.audit(r, rec, start)
		}()
		next.ServeHTTP(rec, r)
	})
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.registerHealth(mux)
	mux.HandleFunc("/version", s.serveVersion)
	mux.HandleFunc("/api", s.serveCoreVersions)
	mux.HandleFunc("/api/v1", s.serveResourceList)
	mux.HandleFunc("/api/v1/{rest...}", s.serveResource)
	mux.HandleFunc("GET /api/v1/namespaces/{namespace}/pods/{name}/log", s.servePodLog)
	mux.HandleFunc("POST /api/v1/namespaces/{namespace}/pods/{name}/exec", s.servePodExec)
	mux.HandleFunc("/api/v1/namespaces/{namespace}/pods/{name}/exec", s.servePodStream("exec"))
	mux.HandleFunc("/api/v1/namespaces/{namespace}/pods/{name}/attach", s.servePodStream("attach"))
	mux.HandleFunc("/api/v1/namespaces/{namespace}/pods/{name}/portforward", s.servePodStream("portforward"))
	mux.HandleFunc("/apis", s.serveGroupList)
	mux.HandleFunc("/apis/{group}", s.serveGroup)
	mux.HandleFunc("/apis/{group}/{version}", s.serveResourceList)
	mux.HandleFunc("/apis/{group}/{version}/{rest...}", s.serveResource)
	mux.HandleFunc("/apis/"+metricsGroup+"/"+metricsVersion+"/{rest...}", s.serveMetrics)
	openapi.New(s.resources, KubernetesVersion).Register(mux)
	mux.HandleFunc("/bosun/v1/status", s.serveSyncStatus)
	mux.HandleFunc("/bosun/v1/history", s.serveSyncHistory)
	mux.HandleFunc(api.PathFreeze, s.serveControl)
	mux.HandleFunc(api.PathSuspend, s.serveControl)
	mux.HandleFunc(api.PathSync, s.serveControl)
	mux.HandleFunc(api.PathAcceptRewrite, s.serveControl)
	mux.HandleFunc("GET "+api.PathClusterInfo, s.serveClusterInfo)
	mux.HandleFunc("POST "+api.PathJoin, s.serveJoin)
	mux.HandleFunc("POST "+api.PathServerJoin, s.serveServerJoin)
	mux.HandleFunc("GET "+api.PathServers, s.serveServers)
	mux.HandleFunc("POST "+api.PathCertificates, s.serveRenew)
	mux.HandleFunc("GET "+api.PathTokens, s.serveTokenList)
	mux.HandleFunc("POST "+api.PathTokens, s.serveTokenCreate)
	mux.HandleFunc("DELETE "+api.PathTokens+"/{id}", s.serveTokenDelete)
	if s.cfg.Profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if s.cfg.Hooks != nil {
		mux.Handle("POST /hooks/git", s.cfg.Hooks)
	}
	if s.cfg.MetricsHandler != nil {
		mux.Handle("GET /metrics", s.cfg.MetricsHandler)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFoundPath(r.URL.Path))
	})
	return mux
}

// writeJSON writes v as JSON with the code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	writeJSONType(w, code, "application/json", v)
}

// writeJSONType writes v as JSON with the code and the content type ct
// (a JSON media type with parameters, such as aggregated discovery's).
func writeJSONType(w http.ResponseWriter, code int, ct string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, ct = http.StatusInternalServerError, "application/json"
		b, _ = json.Marshal(errInternal(fmt.Errorf("apiserver: encode response: %w", err)).status)
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// writeError writes err as a metav1.Status.
func writeError(w http.ResponseWriter, err *apiError) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.refusal = &err.status // for the audit log
	}
	writeJSON(w, int(err.status.Code), err.status)
}
