package client_test

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
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// logBuffer is a concurrency-safe log sink for counting what a client logs.
type logBuffer struct{ testutil.SyncBuffer }

func (b *logBuffer) count(s string) int { return strings.Count(b.String(), s) }

// cluster is n API servers on one store, over plain HTTP or over TLS with
// client certificates as in production, and the options of a client of
// them (its credential).
type cluster struct {
	urls      []string
	srvs      []*httptest.Server
	opts      []client.Option
	ca, admin pair // with TLS
}

func startCluster(t *testing.T, st *store.Store, n int, useTLS bool) *cluster {
	t.Helper()
	cl := &cluster{}
	var serverTLS *tls.Config
	if useTLS {
		ca := newCA(t, "cluster CA")
		serving := issue(t, ca, "bosun-server")
		admin := issue(t, ca, "admin", api.GroupMasters)
		cl.ca, cl.admin = ca, admin
		servingPair, err := tls.X509KeyPair(serving.cert, serving.key)
		if err != nil {
			t.Fatal(err)
		}
		adminPair, err := tls.X509KeyPair(admin.cert, admin.key)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca.x509)
		serverTLS = &tls.Config{Certificates: []tls.Certificate{servingPair}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
		cl.opts = append(cl.opts, client.WithTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{adminPair}}))
	}
	for range n {
		srv := httptest.NewUnstartedServer(apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(t)}).Handler())
		if useTLS {
			srv.TLS = serverTLS.Clone()
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(func() { kill(srv) })
		cl.urls = append(cl.urls, srv.URL)
		cl.srvs = append(cl.srvs, srv)
	}
	return cl
}

// kill stops srv as a killed process stops: its listener and every
// connection close at once, watches included.
func kill(srv *httptest.Server) {
	srv.Listener.Close()
	srv.CloseClientConnections()
	srv.Close()
}

// TestFailover kills the server a client talks to: requests, writes and
// an informer's watch go on through the other server, and the switch is
// logged once.
func TestFailover(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[useTLS], func(t *testing.T) {
			st := storetest.Start(t)
			cl := startCluster(t, st, 2, useTLS)
			var log logBuffer
			opts := append([]client.Option{client.WithServers(cl.urls[1]), client.WithTimeout(10 * time.Second),
				client.WithLogger(slog.New(slog.NewTextHandler(&log, nil)))}, cl.opts...)
			c, err := client.New(cl.urls[0], opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ServerURLs(); len(got) != 2 || got[0] != cl.urls[0] || got[1] != cl.urls[1] {
				t.Fatalf("ServerURLs = %v, want %v", got, cl.urls)
			}
			// Leases: a kind clients may write (desired state comes from Git).
			cms := storetest.Resource(t, "leases")
			if err := c.Create(ctx(t), cms, lease("default", "before")); err != nil {
				t.Fatal(err)
			}

			inf := cache.NewInformer(client.ListWatch{Client: c, Resource: cms}, cms, storetest.Logger(t))
			ictx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = inf.Run(ictx) }()
			t.Cleanup(func() { stop(); <-done })
			if err := inf.WaitForSync(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if _, ok := inf.Get("default", "before"); !ok {
				t.Fatal("informer did not list default/before")
			}

			kill(cl.srvs[0])
			// The informer's watch broke with the server: a change made now
			// reaches it only through a watch on the other server.
			if err := st.Create(ctx(t), lease("default", "after")); err != nil {
				t.Fatal(err)
			}
			testutil.EventuallyTrue(t, 30*time.Second, "the informer to see default/after through the other server", func() bool {
				_, ok := inf.Get("default", "after")
				return ok
			})
			objs, err := c.List(ctx(t), cms, "default", "")
			if err != nil || len(objs) != 2 {
				t.Fatalf("List after the kill = %d objects, %v; want 2", len(objs), err)
			}
			if err := c.Create(ctx(t), cms, lease("default", "written")); err != nil {
				t.Fatalf("Create after the kill: %v", err)
			}
			if c.URL() != cl.urls[1] {
				t.Errorf("URL = %s, want the live server %s", c.URL(), cl.urls[1])
			}
			if n := log.count("unreachable, using"); n != 1 {
				t.Errorf("logged %d switches, want 1:\n%s", n, log.String())
			}
		})
	}
}

// counter is a fake API server that counts its requests and answers each
// with answer.
type counter struct {
	srv *httptest.Server
	n   atomic.Int32
}

func newCounter(t *testing.T, answer http.HandlerFunc) *counter {
	t.Helper()
	c := &counter{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		answer(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// echo answers a write with the object it was sent, and a read with a
// ConfigMap named after the path.
func echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		_ = json.NewEncoder(w).Encode(cm("default", r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:], nil))
		return
	}
	_, _ = io.Copy(w, r.Body)
}

// deadURL returns the URL of a port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// hangUp is a server that reads each request, then closes the connection
// without answering: the request may have been acted on.
func hangUp(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// hang is a server that never answers (until the client gives up): a
// stopped or overloaded one.
func hang(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then a closed connection ends r's context
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// wrongCA is a TLS server whose certificate no client here trusts: the TLS
// handshake fails.
func wrongCA(t *testing.T) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("a request got through a failed TLS handshake")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestFailoverRetries checks which failures of the first server send a
// request to the second: connection failures of replayable requests (and,
// once the request may have reached the server, only of idempotent ones),
// never an HTTP answer.
func TestFailoverRetries(t *testing.T) {
	cms := storetest.Resource(t, "configmaps")
	tests := []struct {
		name      string
		first     func(t *testing.T) string
		call      func(ctx context.Context, c *client.Client) error
		wantRetry bool
		wantErr   func(error) bool
	}{
		{name: "GET, connection refused", first: deadURL, wantRetry: true,
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.Get(ctx, cms, "default", "x")
				return err
			}},
		{name: "POST with a replayable body, connection refused", first: deadURL, wantRetry: true,
			call: func(ctx context.Context, c *client.Client) error {
				obj := cm("default", "posted", nil)
				if err := c.Create(ctx, cms, obj); err != nil {
					return err
				}
				if obj.Data["k"] != "posted" {
					return fmt.Errorf("the retried POST carried %+v, want the whole object", obj)
				}
				return nil
			}},
		{name: "TLS handshake failure", first: wrongCA, wantRetry: true,
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.Get(ctx, cms, "default", "x")
				return err
			}},
		{name: "POST with a body that cannot be replayed, connection refused", first: deadURL,
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.Exec(ctx, "default", "pod", "", []string{"true"}, io.MultiReader(strings.NewReader("input")), io.Discard, io.Discard)
				return err
			},
			wantErr: func(err error) bool { return errors.Is(err, client.ErrUnreachable) }},
		{name: "GET, connection closed before an answer", first: hangUp, wantRetry: true,
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.Get(ctx, cms, "default", "x")
				return err
			}},
		{name: "POST, connection closed before an answer", first: hangUp,
			call: func(ctx context.Context, c *client.Client) error {
				return c.Create(ctx, cms, cm("default", "posted", nil))
			},
			wantErr: func(err error) bool { return err != nil && client.Reason(err) == "" }},
		{name: "GET, no answer within the client's timeout", first: hang, wantRetry: true,
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.Get(ctx, cms, "default", "x")
				return err
			}},
		{name: "POST, no answer within the client's timeout", first: hang,
			call: func(ctx context.Context, c *client.Client) error {
				return c.Create(ctx, cms, cm("default", "posted", nil))
			},
			wantErr: func(err error) bool { return err != nil && client.Reason(err) == "" }},
		{name: "500 is an answer", first: func(t *testing.T) string {
			return newCounter(t, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }).srv.URL
		},
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.Get(ctx, cms, "default", "x")
				return err
			},
			wantErr: func(err error) bool {
				var ae *client.APIError
				return errors.As(err, &ae) && ae.Status.Code == http.StatusInternalServerError
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			second := newCounter(t, echo)
			first := tc.first(t)
			// A client trusting the system's roots only: the TLS test server's
			// own certificate is unknown to it.
			c, err := client.New(first, client.WithServers(second.srv.URL), client.WithTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			err = tc.call(ctx(t), c)
			if tc.wantRetry {
				if err != nil {
					t.Fatalf("err = %v, want the second server's answer", err)
				}
				if n := second.n.Load(); n != 1 {
					t.Errorf("second server got %d requests, want 1", n)
				}
				return
			}
			if !tc.wantErr(err) {
				t.Errorf("err = %v, not the error wanted", err)
			}
			if n := second.n.Load(); n != 0 {
				t.Errorf("second server got %d requests, want none (no retry)", n)
			}
		})
	}
}

// TestSetServers replaces a client's servers while it runs.
func TestSetServers(t *testing.T) {
	a, b := newCounter(t, echo), newCounter(t, echo)
	c, err := client.New(a.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetServers([]string{b.srv.URL, a.srv.URL}); err != nil || c.URL() != a.srv.URL {
		t.Fatalf("SetServers keeping the current one: %v, URL %s, want %s", err, c.URL(), a.srv.URL)
	}
	if err := c.SetServers(nil); err == nil {
		t.Error("SetServers(nil) = nil, want an error")
	}
	if err := c.SetServers([]string{"ftp://x"}); err == nil || c.URL() != a.srv.URL {
		t.Errorf("SetServers(invalid) = %v, URL %s; want an error and no change", err, c.URL())
	}
	if err := c.SetServers([]string{b.srv.URL}); err != nil || c.URL() != b.srv.URL {
		t.Fatalf("SetServers without the current one: %v, URL %s, want %s", err, c.URL(), b.srv.URL)
	}
	if _, err := c.Get(ctx(t), storetest.Resource(t, "configmaps"), "default", "x"); err != nil {
		t.Fatal(err)
	}
	if a.n.Load() != 0 || b.n.Load() != 1 {
		t.Errorf("requests: %d to the old server, %d to the new; want 0 and 1", a.n.Load(), b.n.Load())
	}
}

// TestListServers reads the registered servers through the API.
func TestListServers(t *testing.T) {
	want := []api.ServerInfo{{Name: "s1", URL: "https://127.0.0.1:6443", Started: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}}
	srv := newCounter(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.PathServers {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(want)
	})
	c, err := client.New(srv.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ListServers(ctx(t))
	if err != nil || len(got) != 1 || got[0] != want[0] {
		t.Fatalf("ListServers = %+v, %v; want %+v", got, err, want)
	}
}

// TestKubeconfigServers builds a client from a kubeconfig whose cluster
// lists a second server in its bosun.dev/servers extension: it fails over to
// it, unless --server overrides the kubeconfig's server.
func TestKubeconfigServers(t *testing.T) {
	st := storetest.Start(t)
	cl := startCluster(t, st, 2, true)
	write := func(t *testing.T, ext runtime.Object) string {
		cfg := clientcmdapi.NewConfig()
		cluster := clientcmdapi.NewCluster()
		cluster.Server, cluster.CertificateAuthorityData = cl.urls[0], cl.ca.cert
		if ext != nil {
			cluster.Extensions[client.KubeconfigServersExtension] = ext
		}
		cfg.Clusters["bosun"] = cluster
		cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cl.admin.cert, ClientKeyData: cl.admin.key}
		cfg.Contexts["bosun"] = &clientcmdapi.Context{Cluster: "bosun", AuthInfo: "admin"}
		cfg.CurrentContext = "bosun"
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := clientcmd.WriteToFile(*cfg, path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name    string
		ext     runtime.Object
		server  string
		want    []string
		wantErr string
	}{
		{name: "extension", ext: client.ServersExtension(cl.urls[1:]), want: cl.urls},
		{name: "no extension", want: cl.urls[:1]},
		{name: "--server overrides", ext: client.ServersExtension(cl.urls[1:]), server: cl.urls[1], want: cl.urls[1:]},
		{name: "malformed extension", ext: &runtime.Unknown{Raw: []byte(`{"servers": "one"}`), ContentType: runtime.ContentTypeJSON},
			wantErr: client.KubeconfigServersExtension},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.NewFromKubeconfig(client.KubeconfigOptions{ExplicitPath: write(t, tc.ext), Server: tc.server})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewFromKubeconfig = %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ServerURLs(); !slices.Equal(got, tc.want) {
				t.Fatalf("ServerURLs = %v, want %v", got, tc.want)
			}
		})
	}

	c, err := client.NewFromKubeconfig(client.KubeconfigOptions{ExplicitPath: write(t, client.ServersExtension(cl.urls[1:]))})
	if err != nil {
		t.Fatal(err)
	}
	kill(cl.srvs[0])
	if _, err := c.List(ctx(t), storetest.Resource(t, "configmaps"), "", ""); err != nil {
		t.Fatalf("List with the kubeconfig's server dead: %v", err)
	}
}
