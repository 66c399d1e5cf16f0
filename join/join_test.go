package join

import (
	"context"
	"crypto"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/pki"
)

const testToken = "abcdef.0123456789abcdef"

// fakeServer implements the server side of joining just enough for these
// tests (the real endpoints are package apiserver's): cluster info, join
// with one bootstrap token, renewal for the caller's own identity.
type fakeServer struct {
	ca   *pki.CA
	srv  *httptest.Server
	opts fakeOptions
	// requests counts every request, joins and renewals the join and
	// renewal requests.
	requests, joins, renewals atomic.Int32
}

// fakeOptions change a fakeServer's behaviour; they are fixed before it
// starts.
type fakeOptions struct {
	// clock is the CA's; default the real clock.
	clock clock.PassiveClock
	// validity of the certificates it signs; default 1 hour.
	validity time.Duration
	// refuse, when its code is set, answers a join with this status (and
	// location, when set, as its Location header).
	refuse   refusal
	location string
	// signAs, when set, is the identity a join's certificate gets (a
	// misbehaving server).
	signAs *api.User
	// servingCA, when set, signs the serving certificate instead of the
	// cluster CA (a man in the middle).
	servingCA *pki.CA
	// answerCA, when set, is the CA a control-plane join's answer names
	// instead of the cluster CA.
	answerCA *pki.CA
}

// refusal is a Kubernetes Status answer.
type refusal struct {
	code   int
	reason metav1.StatusReason
	msg    string
}

func newFakeServer(t *testing.T, opts fakeOptions) *fakeServer {
	t.Helper()
	var caOpts []pki.Option
	if opts.clock != nil {
		caOpts = append(caOpts, pki.WithClock(opts.clock))
	}
	ca, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "pki"), caOpts...)
	if err != nil {
		t.Fatal(err)
	}
	if opts.validity == 0 {
		opts.validity = time.Hour
	}
	servingCA := ca
	if opts.servingCA != nil {
		servingCA = opts.servingCA
	}
	srv := &fakeServer{ca: ca, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathClusterInfo, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, api.ClusterInfo{CACert: ca.CertPEM()})
	})
	mux.HandleFunc("POST "+api.PathJoin, srv.join)
	mux.HandleFunc("POST "+api.PathServerJoin, srv.serverJoin)
	mux.HandleFunc("POST "+api.PathCertificates, srv.renew)
	srv.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.requests.Add(1)
		mux.ServeHTTP(w, r)
	}))
	srv.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	certPEM, keyPEM, err := servingCA.Issue(pki.Request{User: api.User{Name: "bosun-server"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: pki.UsageServer})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven}
	srv.srv.StartTLS()
	t.Cleanup(srv.srv.Close)
	return srv
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	writeJSON(w, code, metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
}

func (srv *fakeServer) join(w http.ResponseWriter, r *http.Request) {
	srv.joins.Add(1)
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "bootstrap token abcdef: secret does not match")
		return
	}
	if rf := srv.opts.refuse; rf.code != 0 {
		if srv.opts.location != "" {
			w.Header().Set("Location", srv.opts.location)
		}
		writeStatus(w, rf.code, rf.reason, rf.msg)
		return
	}
	var req api.JoinRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	user := api.NodeUser(req.NodeName)
	if srv.opts.signAs != nil {
		user = *srv.opts.signAs
	}
	srv.sign(w, req.CSR, user)
}

func (srv *fakeServer) renew(w http.ResponseWriter, r *http.Request) {
	srv.renewals.Add(1)
	if len(r.TLS.VerifiedChains) == 0 {
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "no client certificate")
		return
	}
	user := pki.IdentityOf(r.TLS.VerifiedChains[0][0])
	if _, ok := user.NodeName(); !ok {
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, "not a node")
		return
	}
	var req api.RenewRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	srv.sign(w, req.CSR, user)
}

func (srv *fakeServer) sign(w http.ResponseWriter, csr []byte, user api.User) {
	certPEM, err := srv.ca.SignCSR(csr, user, pki.UsageBoth, srv.opts.validity)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, api.CertificateResponse{Certificate: certPEM, CACert: srv.ca.CertPEM()})
}

// config is a join of node "worker-1" to fs, storing into a new directory.
func (srv *fakeServer) config(t *testing.T) Config {
	return Config{
		Server:     srv.srv.URL,
		Token:      testToken,
		CACertHash: srv.ca.Hash(),
		NodeName:   "worker-1",
		Dir:        filepath.Join(t.TempDir(), "agent", "pki"),
		DNSNames:   []string{"worker-1"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1")},
	}
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestJoinStoresCredentials(t *testing.T) {
	srv := newFakeServer(t, fakeOptions{})
	cfg := srv.config(t)
	creds, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if creds.NodeName != "worker-1" {
		t.Errorf("NodeName %q", creds.NodeName)
	}
	leaf := creds.KeyPair.Current().Leaf
	if u := pki.IdentityOf(leaf); u.Name != "system:node:worker-1" || len(u.Groups) != 1 || u.Groups[0] != api.GroupNodes {
		t.Errorf("certificate identity %q %v", u.Name, u.Groups)
	}
	if err := srv.ca.Verify(leaf, pki.UsageBoth); err != nil {
		t.Errorf("node certificate: %v", err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("node certificate lacks its IP: %v", err)
	}
	for _, tc := range []struct {
		path string
		mode os.FileMode
	}{
		{cfg.Dir, 0o700},
		{filepath.Join(cfg.Dir, NodeKeyFile), 0o600},
		{filepath.Join(cfg.Dir, NodeCertFile), 0o644},
		{filepath.Join(cfg.Dir, CAFile), 0o644},
		{DefaultKubeconfig(cfg.Dir), 0o600},
	} {
		if got := fileMode(t, tc.path); got != tc.mode {
			t.Errorf("mode of %s = %o, want %o", tc.path, got, tc.mode)
		}
	}
	if creds.Kubeconfig != filepath.Join(filepath.Dir(filepath.Dir(cfg.Dir)), "agent", KubeconfigFile) {
		t.Errorf("kubeconfig at %s, want beside the pki directory", creds.Kubeconfig)
	}
	kc, err := clientcmd.LoadFromFile(creds.Kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	rest, err := clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := creds.KeyPair.PEM()
	if rest.Host != srv.srv.URL || string(rest.CAData) != string(srv.ca.CertPEM()) || string(rest.CertData) != string(certPEM) || string(rest.KeyData) != string(keyPEM) {
		t.Error("the kubeconfig does not hold the server, the CA and the node's pair")
	}

	// The stored credential authenticates: the renewal endpoint accepts it.
	if _, _, err := RenewFunc(RenewConfig{Server: srv.srv.URL, Credentials: creds})(context.Background()); err != nil {
		t.Errorf("a request with the new credential failed: %v", err)
	}
}

func TestJoinWrongCAHash(t *testing.T) {
	srv := newFakeServer(t, fakeOptions{})
	other := newFakeServer(t, fakeOptions{})
	cfg := srv.config(t)
	cfg.CACertHash = other.ca.Hash()
	_, err := Join(context.Background(), cfg)
	if !errors.Is(err, ErrCAHashMismatch) {
		t.Fatalf("Join = %v, want ErrCAHashMismatch", err)
	}
	want := "the server's CA " + srv.ca.Hash() + " does not match --ca-cert-hash " + other.ca.Hash() + "; refusing to send the token"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if n := srv.joins.Load(); n != 0 {
		t.Errorf("the server saw %d join requests, want none: the token must not be sent", n)
	}
	if srv.requests.Load() != 1 {
		t.Errorf("the server saw %d requests, want only the cluster-info one", srv.requests.Load())
	}
	if _, err := os.Stat(cfg.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("credential directory exists after a refused join (%v)", err)
	}
}

func TestJoinServerRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		token    string
		code     int
		reason   metav1.StatusReason
		msg      string
		sentinel error
		want     []string
	}{
		{
			name:     "wrong secret",
			token:    "abcdef.ffffffffffffffff",
			sentinel: ErrTokenRejected,
			want:     []string{"refused bootstrap token abcdef", "401 Unauthorized", "secret does not match"},
		},
		{
			name:     "expired token",
			code:     http.StatusUnauthorized,
			reason:   metav1.StatusReasonUnauthorized,
			msg:      "bootstrap token abcdef: expired at 2026-12-06T08:00:00Z",
			sentinel: ErrTokenRejected,
			want:     []string{"expired at 2026-12-06T08:00:00Z", "bosun token create"},
		},
		{
			name:     "name held by another machine",
			code:     http.StatusConflict,
			reason:   metav1.StatusReasonConflict,
			msg:      `node "worker-1" is Ready and its lease was renewed 3s ago`,
			sentinel: api.ErrConflict,
			want:     []string{`node name "worker-1" is held by another machine`, "409 Conflict", "lease was renewed 3s ago"},
		},
		{
			name:     "bad request",
			code:     http.StatusBadRequest,
			reason:   metav1.StatusReasonBadRequest,
			msg:      "certificate request: signature does not verify",
			sentinel: api.ErrInvalid,
			want:     []string{"refused the join request", "400 Bad Request", "signature does not verify"},
		},
		{
			name: "server error",
			code: http.StatusInternalServerError,
			msg:  "etcd unavailable",
			want: []string{"500 Internal Server Error", "etcd unavailable"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, fakeOptions{refuse: refusal{code: tc.code, reason: tc.reason, msg: tc.msg}})
			cfg := srv.config(t)
			if tc.token != "" {
				cfg.Token = tc.token
			}
			_, err := Join(context.Background(), cfg)
			if err == nil {
				t.Fatal("Join succeeded, want an error")
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("error %q is not %v", err, tc.sentinel)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "0123456789abcdef") || strings.Contains(err.Error(), "ffffffffffffffff") {
				t.Errorf("error %q shows the token's secret", err)
			}
			if _, err := os.Stat(cfg.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("credential directory exists after a refused join (%v)", err)
			}
		})
	}
}

func TestJoinRefusesMisissuedCertificate(t *testing.T) {
	admin := api.User{Name: api.UserAdmin, Groups: []string{api.GroupMasters}}
	srv := newFakeServer(t, fakeOptions{signAs: &admin})
	cfg := srv.config(t)
	_, err := Join(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), `the certificate is for "admin"`) {
		t.Fatalf("Join = %v, want an error naming the wrong identity", err)
	}
	if _, err := os.Stat(cfg.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("credential directory exists after a refused join (%v)", err)
	}
}

func TestJoinValidatesLocally(t *testing.T) {
	srv := newFakeServer(t, fakeOptions{})
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{name: "token without dot", change: func(c *Config) { c.Token = "abcdef0123456789abcdef" }, want: "not of the form ID.SECRET"},
		{name: "token upper case", change: func(c *Config) { c.Token = "ABCDEF.0123456789abcdef" }, want: "not of the form ID.SECRET"},
		{name: "token secret short", change: func(c *Config) { c.Token = "abcdef.0123" }, want: "not of the form ID.SECRET"},
		{name: "empty token", change: func(c *Config) { c.Token = "" }, want: "not of the form ID.SECRET"},
		{name: "malformed hash", change: func(c *Config) { c.CACertHash = "sha256:1234" }, want: "--ca-cert-hash"},
		{name: "no hash", change: func(c *Config) { c.CACertHash = "" }, want: "--ca-cert-hash"},
		{name: "plain http", change: func(c *Config) { c.Server = strings.Replace(c.Server, "https", "http", 1) }, want: "want https://HOST:PORT"},
		{name: "no node name", change: func(c *Config) { c.NodeName = "" }, want: "node name is empty"},
		{name: "bad node name", change: func(c *Config) { c.NodeName = "Worker_1" }, want: `node name "Worker_1"`},
		{name: "no directory", change: func(c *Config) { c.Dir = "" }, want: "Dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.config(t)
			tc.change(&cfg)
			_, err := Join(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Join = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "0123456789abcdef") {
				t.Errorf("error %q shows the token's secret", err)
			}
		})
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("the server saw %d requests; invalid configurations must fail before any", n)
	}
}

func TestLoad(t *testing.T) {
	srv := newFakeServer(t, fakeOptions{})
	cfg := srv.config(t)
	joined, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		dir      string
		nodeName string
		want     string
		notExist bool
	}{
		{name: "same node", dir: cfg.Dir, nodeName: "worker-1"},
		{name: "any node", dir: cfg.Dir},
		{name: "another node", dir: cfg.Dir, nodeName: "worker-2", want: `belongs to node "worker-1", not "worker-2"`},
		{name: "never joined", dir: filepath.Join(t.TempDir(), "pki"), nodeName: "worker-1", notExist: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds, err := Load(tc.dir, tc.nodeName)
			switch {
			case tc.notExist:
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("Load = %v, want srv.ErrNotExist", err)
				}
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Load = %v, want an error containing %q", err, tc.want)
				}
			default:
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if creds.NodeName != "worker-1" || creds.KeyPair.Current().Leaf.SerialNumber.Cmp(joined.KeyPair.Current().Leaf.SerialNumber) != 0 {
					t.Errorf("loaded %q serial %s, want the joined credential", creds.NodeName, creds.KeyPair.Current().Leaf.SerialNumber)
				}
				// A restarted agent needs no token: its stored credential
				// is accepted.
				if _, _, err := RenewFunc(RenewConfig{Server: srv.srv.URL, Credentials: creds})(context.Background()); err != nil {
					t.Errorf("request with the loaded credential: %v", err)
				}
			}
		})
	}
}

// TestRenewerSwapsNodeCertificate renews a node credential on a fake clock:
// the new pair replaces the old one in memory, on disk and in the
// kubeconfig, and keeps the node's identity and addresses.
func TestRenewerSwapsNodeCertificate(t *testing.T) {
	fc := testingclock.NewFakeClock(time.Now())
	srv := newFakeServer(t, fakeOptions{clock: fc, validity: 3 * time.Hour})
	cfg := srv.config(t)
	creds, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := creds.KeyPair.Current().Leaf
	r, err := NewRenewer(RenewConfig{Server: cfg.Server, Credentials: creds, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Start(t, r.Run)
	testutil.EventuallyTrue(t, 5*time.Second, "the renewer waits on the clock", fc.HasWaiters)
	fc.SetTime(pki.RenewAt(first).Add(time.Second))
	testutil.EventuallyTrue(t, 5*time.Second, "the node certificate renewed", func() bool {
		return creds.KeyPair.Current().Leaf.SerialNumber.Cmp(first.SerialNumber) != 0
	})
	renewed := creds.KeyPair.Current().Leaf
	if srv.renewals.Load() != 1 {
		t.Errorf("server saw %d renewals, want 1", srv.renewals.Load())
	}
	if u := pki.IdentityOf(renewed); u.Name != "system:node:worker-1" {
		t.Errorf("renewed certificate is for %q", u.Name)
	}
	if err := renewed.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("renewed certificate lost its address: %v", err)
	}
	if first.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(renewed.PublicKey) {
		t.Error("renewal kept the old key; want a new one")
	}
	loaded, err := Load(cfg.Dir, "worker-1")
	if err != nil {
		t.Fatal(err)
	}
	if loaded.KeyPair.Current().Leaf.SerialNumber.Cmp(renewed.SerialNumber) != 0 {
		t.Error("the renewed pair is not on disk")
	}
	certPEM, _ := creds.KeyPair.PEM()
	testutil.EventuallyTrue(t, 5*time.Second, "the kubeconfig rewritten", func() bool {
		kc, err := clientcmd.LoadFromFile(creds.Kubeconfig)
		return err == nil && string(kc.AuthInfos["system:node:worker-1"].ClientCertificateData) == string(certPEM)
	})
}

// TestJoinPinsTheCA: a server that hands out the right CA but presents a
// serving certificate from another CA (a man in the middle who copied the
// public cluster-info) never receives the token.
func TestJoinPinsTheCA(t *testing.T) {
	impostor := newFakeServer(t, fakeOptions{})
	srv := newFakeServer(t, fakeOptions{servingCA: impostor.ca})
	cfg := srv.config(t)
	_, err := Join(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("Join = %v, want a TLS error: the server's certificate is not from the pinned CA", err)
	}
	if n := srv.joins.Load(); n != 0 {
		t.Errorf("the server saw %d join requests, want none", n)
	}
}

// TestJoinDoesNotFollowRedirects: a redirect must not carry the token to
// another address; it is an error.
func TestJoinDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(target.Close)
	srv := newFakeServer(t, fakeOptions{
		refuse:   refusal{code: http.StatusTemporaryRedirect, msg: "moved"},
		location: target.URL + api.PathJoin,
	})
	cfg := srv.config(t)
	cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	_, err := Join(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "307 Temporary Redirect") {
		t.Fatalf("Join = %v, want an error naming the redirect", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target saw %d requests, want none", n)
	}
}
