package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// errCrash is returned by serve when CRASH_AFTER elapsed.
var errCrash = errors.New("crashing as asked by CRASH_AFTER")

// config is what the environment asks of the server.
type config struct {
	podName           string
	version           string
	crashAfter        time.Duration // < 0: never
	hang              bool
	failLivenessAfter time.Duration // < 0: never
	readyAfter        time.Duration
	notReady          bool
}

// configFromEnv reads the environment knobs; builtVersion is the version
// baked in at build time, which $VERSION overrides.
func configFromEnv(getenv func(string) string, builtVersion string) (config, error) {
	cfg := config{
		podName:           getenv("POD_NAME"),
		version:           builtVersion,
		crashAfter:        -1,
		failLivenessAfter: -1,
		hang:              getenv("HANG") == "1",
		notReady:          getenv("NOT_READY") == "1",
	}
	if cfg.podName == "" {
		cfg.podName, _ = os.Hostname()
	}
	if v := getenv("VERSION"); v != "" {
		cfg.version = v
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{
		{"CRASH_AFTER", &cfg.crashAfter},
		{"FAIL_LIVENESS_AFTER", &cfg.failLivenessAfter},
		{"READY_AFTER", &cfg.readyAfter},
	} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		if v == "0" {
			*d.dst = 0
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur < 0 {
			return config{}, fmt.Errorf("%s=%q: want a duration such as 5s", d.name, v)
		}
		*d.dst = dur
	}
	return cfg, nil
}

// handler returns the HTTP handler; environ lists the environment for /env,
// start is when the server started and now the clock the time-based knobs are
// measured with.
func handler(cfg config, environ func() []string, logger *slog.Logger, start time.Time, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s (version %s)\n", cfg.podName, cfg.version)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.hang {
			<-r.Context().Done()
			return
		}
		if cfg.failLivenessAfter >= 0 && now().Sub(start) >= cfg.failLivenessAfter {
			http.Error(w, "unhealthy (FAIL_LIVENESS_AFTER)", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case cfg.notReady:
			http.Error(w, "not ready (NOT_READY)", http.StatusServiceUnavailable)
		case now().Sub(start) < cfg.readyAfter:
			http.Error(w, "not ready yet (READY_AFTER)", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := environ()
		sort.Strings(env)
		fmt.Fprint(w, strings.Join(env, "\n")+"\n")
	})
	mux.HandleFunc("/burn", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 60_000 {
			http.Error(w, "want ?ms=N, 0 to 60000", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "burned %d iterations in %dms\n", burn(time.Duration(ms)*time.Millisecond), ms)
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query().Get("path")
		if p == "" {
			http.Error(w, "missing ?path=", http.StatusBadRequest)
			return
		}
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(b)
	})
	return logRequests(mux, logger, now)
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// logRequests logs every request once it is answered.
func logRequests(next http.Handler, logger *slog.Logger, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.Info("request", "method", r.Method, "path", r.URL.RequestURI(), "remote", r.RemoteAddr,
			"status", sw.code, "duration", now().Sub(began))
	})
}

// serve answers on ln until ctx ends (then it shuts down gracefully and
// returns nil) or CRASH_AFTER elapses (then it returns errCrash).
func serve(ctx context.Context, ln net.Listener, cfg config, logger *slog.Logger, now func() time.Time) error {
	start := now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:           handler(cfg, os.Environ, logger, start, now),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	var crash <-chan time.Time
	if cfg.crashAfter >= 0 {
		t := time.NewTimer(cfg.crashAfter)
		defer t.Stop()
		crash = t.C
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "pod", cfg.podName, "version", cfg.version)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-crash:
		srv.Close()
		return fmt.Errorf("%w (%s)", errCrash, cfg.crashAfter)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	cancel() // hanging handlers return
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// burn keeps one CPU busy for d (load for autoscaling tests) and returns how
// many rounds of work it did.
func burn(d time.Duration) uint64 {
	var n, x uint64 = 0, 1
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	if x == 0 { // never: keeps the loop from being optimised away
		n++
	}
	return n
}
