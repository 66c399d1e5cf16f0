package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultEtcdCheckTimeout bounds the etcd health check's quorum read.
const DefaultEtcdCheckTimeout = 2 * time.Second

// etcdHealthKey is the key the etcd check reads, as kube-apiserver's
// etcd check reads "health": whether it exists does not matter, only that
// a linearizable read answers.
const etcdHealthKey = "/bosun/health"

// HealthCheck is one named check of /livez or /readyz, such as "etcd".
type HealthCheck struct {
	// Name is the check's name: the line "[+]Name ok" of ?verbose, the
	// value ?exclude=Name removes and the path /readyz/Name.
	Name string
	// Check returns nil when healthy, else an error saying why not. It
	// must return soon: it runs during the request, with its context.
	Check func(ctx context.Context) error
}

// healthEndpoint is one of /livez, /readyz or /healthz with its checks.
type healthEndpoint struct {
	name   string // "livez", for "livez check passed"
	checks []HealthCheck
}

// healthEndpoints returns the checks of /livez and /readyz: ping and etcd
// for both, and for readiness also "sync" (Config.Ready) and
// Config.ReadyChecks; Config.LiveChecks join both, as kube-apiserver's
// liveness checks are also readiness checks.
func (s *Server) healthEndpoints() (live, ready healthEndpoint) {
	live.name, ready.name = "livez", "readyz"
	live.checks = append(live.checks, HealthCheck{Name: "ping", Check: func(context.Context) error { return nil }})
	if s.cfg.Store != nil {
		live.checks = append(live.checks, HealthCheck{Name: "etcd", Check: s.checkEtcd})
	}
	live.checks = append(live.checks, s.cfg.LiveChecks...)
	ready.checks = append(ready.checks, live.checks...)
	if s.cfg.Ready != nil {
		ready.checks = append(ready.checks, HealthCheck{Name: "sync", Check: s.cfg.Ready})
	}
	ready.checks = append(ready.checks, s.cfg.ReadyChecks...)
	return live, ready
}

// registerHealth serves /healthz, /livez and /readyz and one path per
// check (/livez/etcd, /readyz/sync, ...), as kube-apiserver does.
func (s *Server) registerHealth(mux *http.ServeMux) {
	live, ready := s.healthEndpoints()
	healthz := live
	healthz.name = "healthz"
	for _, e := range []healthEndpoint{healthz, live, ready} {
		mux.HandleFunc("/"+e.name, e.serveAll)
		for _, c := range e.checks {
			mux.HandleFunc("/"+e.name+"/"+c.Name, serveOne(c))
		}
	}
}

// checkEtcd makes a quorum (linearizable) read of one key with a short
// deadline: it fails when the etcd member this server talks to has no
// quorum or does not answer.
func (s *Server) checkEtcd(ctx context.Context) error {
	timeout := s.cfg.EtcdCheckTimeout
	if timeout <= 0 {
		timeout = DefaultEtcdCheckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := s.cfg.Store.Client().Get(ctx, etcdHealthKey); err != nil {
		return fmt.Errorf("no quorum read of etcd within %s: %w", timeout, err)
	}
	return nil
}

// serveAll runs every check not excluded by ?exclude=NAME and answers
// "ok" (200), or with ?verbose one line per check and "NAME check
// passed"; when a check fails, 500 with every line and "NAME check failed",
// verbose or not, as kube-apiserver answers.
func (e healthEndpoint) serveAll(w http.ResponseWriter, r *http.Request) {
	excluded := excludedChecks(r)
	var out strings.Builder
	failed := false
	for _, c := range e.checks {
		if excluded[c.Name] {
			delete(excluded, c.Name)
			fmt.Fprintf(&out, "[+]%s excluded: ok\n", c.Name)
			continue
		}
		if err := c.Check(r.Context()); err != nil {
			failed = true
			fmt.Fprintf(&out, "[-]%s failed: %s\n", c.Name, oneLine(err))
			continue
		}
		fmt.Fprintf(&out, "[+]%s ok\n", c.Name)
	}
	if len(excluded) > 0 {
		fmt.Fprintf(&out, "warn: some health checks cannot be excluded: no matches for %s\n", quotedNames(excluded))
	}
	setHealthHeaders(w)
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(&out, "%s check failed\n", e.name)
		_, _ = w.Write([]byte(out.String()))
		return
	}
	if _, verbose := r.URL.Query()["verbose"]; !verbose {
		_, _ = w.Write([]byte("ok"))
		return
	}
	fmt.Fprintf(&out, "%s check passed\n", e.name)
	_, _ = w.Write([]byte(out.String()))
}

// serveOne answers one check's path: "ok", or 500 with the reason.
func serveOne(c HealthCheck) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		setHealthHeaders(w)
		if err := c.Check(r.Context()); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = fmt.Fprintf(w, "internal server error: %s\n", oneLine(err))
			return
		}
		_, _ = w.Write([]byte("ok"))
	}
}

func setHealthHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

// excludedChecks is the set of names in ?exclude= (repeated, or
// comma-separated).
func excludedChecks(r *http.Request) map[string]bool {
	set := map[string]bool{}
	for _, v := range r.URL.Query()["exclude"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				set[name] = true
			}
		}
	}
	return set
}

func quotedNames(set map[string]bool) string {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, fmt.Sprintf("%q", n))
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// oneLine keeps a reason on its check's line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// Component tracks whether a long-running part of the server (its Run
// function) is running, for a health check: Run wraps the part, Check
// reports it. The zero value is a component that has not started.
type Component struct {
	mu      sync.Mutex
	started bool
	done    bool
	err     error
}

// Run runs run(ctx), recording that it runs and how it ended, and returns
// its error.
func (c *Component) Run(ctx context.Context, run func(ctx context.Context) error) error {
	c.mu.Lock()
	c.started, c.done, c.err = true, false, nil
	c.mu.Unlock()
	err := run(ctx)
	c.mu.Lock()
	c.done, c.err = true, err
	c.mu.Unlock()
	return err
}

// errNotStarted is Check's error before Run.
var errNotStarted = errors.New("not started yet")

// Check returns nil while Run runs, else an error saying that it has not
// started or has stopped (and why).
func (c *Component) Check(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.started:
		return errNotStarted
	case c.done && c.err != nil:
		return fmt.Errorf("stopped: %w", c.err)
	case c.done:
		return errors.New("stopped")
	}
	return nil
}
