package client_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// pair is a certificate and its key, PEM.
type pair struct {
	cert, key []byte
	x509      *x509.Certificate
	signer    *ecdsa.PrivateKey
}

// newCA makes a self-signed CA.
func newCA(t *testing.T, name string) pair {
	t.Helper()
	return makeCert(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, pair{})
}

// issue makes a certificate signed by ca for user cn in groups, valid for
// client and server authentication at 127.0.0.1.
func issue(t *testing.T, ca pair, cn string, groups ...string) pair {
	t.Helper()
	return makeCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}, ca)
}

func makeCert(t *testing.T, tmpl *x509.Certificate, ca pair) pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber, err = rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	parent, signer := tmpl, key
	if ca.x509 != nil {
		parent, signer = ca.x509, ca.signer
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pair{
		cert:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		x509:   cert,
		signer: key,
	}
}

// tokenServer is a fake of the API server's token endpoints over TLS: it
// authenticates client certificates of ca and lets only group
// system:masters in.
type tokenServer struct {
	url string
	ca  pair

	mu      sync.Mutex
	created []api.TokenRequest
	tokens  []api.BootstrapToken
	deleted []string
}

func startTokenServer(t *testing.T) *tokenServer {
	t.Helper()
	ca := newCA(t, "cluster CA")
	serving := issue(t, ca, "bosun-server")
	servingPair, err := tls.X509KeyPair(serving.cert, serving.key)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tokenServer{ca: ca, tokens: []api.BootstrapToken{
		{ID: "abcdef", Description: "first", Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), UsagesLeft: -1},
	}}
	pool := x509.NewCertPool()
	pool.AddCert(ca.x509)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathTokens, func(w http.ResponseWriter, r *http.Request) {
		var req api.TokenRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			status(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
			return
		}
		ts.mu.Lock()
		ts.created = append(ts.created, req)
		ts.mu.Unlock()
		_ = json.NewEncoder(w).Encode(api.TokenResponse{
			Token:          "uvwxyz.0123456789abcdef",
			BootstrapToken: api.BootstrapToken{ID: "uvwxyz", Description: req.Description, UsagesLeft: req.Usages},
			Server:         "https://10.0.0.1:6443",
			CACertHash:     "sha256:00ff",
		})
	})
	mux.HandleFunc("GET "+api.PathTokens, func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"items": ts.tokens})
	})
	mux.HandleFunc("DELETE "+api.PathTokens+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		ts.mu.Lock()
		defer ts.mu.Unlock()
		for i, tok := range ts.tokens {
			if tok.ID == id {
				ts.tokens = append(ts.tokens[:i], ts.tokens[i+1:]...)
				ts.deleted = append(ts.deleted, id)
				return
			}
		}
		status(w, http.StatusNotFound, metav1.StatusReasonNotFound, "bootstrap token "+id+": unknown (deleted or never created)")
	})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // every request makes a new TLS handshake
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			status(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
			return
		}
		cert := r.TLS.VerifiedChains[0][0]
		u := api.User{Name: cert.Subject.CommonName, Groups: cert.Subject.Organization}
		if !u.InGroup(api.GroupMasters) {
			status(w, http.StatusForbidden, metav1.StatusReasonForbidden, `user "`+u.Name+`" cannot list bootstrap tokens: admin only`)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{servingPair}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ts.url = srv.URL
	return ts
}

func status(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg})
}

// kubeconfig describes a kubeconfig file to write.
type kubeconfig struct {
	server string
	ca     []byte
	user   *pair
	// files writes CA, certificate and key as files beside the kubeconfig
	// (relative paths) instead of embedding them.
	files bool
}

// write writes k to path with clientcmd.
func (k kubeconfig) write(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	cluster := &clientcmdapi.Cluster{Server: k.server}
	user := &clientcmdapi.AuthInfo{}
	if k.files {
		writeFile := func(name string, data []byte) string {
			if err := os.WriteFile(filepath.Join(filepath.Dir(path), name), data, 0o600); err != nil {
				t.Fatal(err)
			}
			return name // relative to the kubeconfig
		}
		cluster.CertificateAuthority = writeFile("ca.crt", k.ca)
		if k.user != nil {
			user.ClientCertificate = writeFile("user.crt", k.user.cert)
			user.ClientKey = writeFile("user.key", k.user.key)
		}
	} else {
		cluster.CertificateAuthorityData = k.ca
		if k.user != nil {
			user.ClientCertificateData, user.ClientKeyData = k.user.cert, k.user.key
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bosun"] = cluster
	cfg.AuthInfos["admin"] = user
	cfg.Contexts["bosun"] = &clientcmdapi.Context{Cluster: "bosun", AuthInfo: "admin"}
	cfg.CurrentContext = "bosun"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKubeconfigLoading(t *testing.T) {
	ts := startTokenServer(t)
	admin := issue(t, ts.ca, "admin", api.GroupMasters)
	node := issue(t, ts.ca, "system:node:n1", api.GroupNodes)
	otherCA := newCA(t, "another cluster")
	good := kubeconfig{server: ts.url, ca: ts.ca.cert, user: &admin}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"items":[{"id":"plain00"}]}`))
	}))
	t.Cleanup(plain.Close)

	tests := []struct {
		name string
		// setup writes files under dir and returns the options.
		setup   func(t *testing.T, dir string) client.KubeconfigOptions
		wantURL string
		wantErr string // substring of the error of New or of ListTokens
		wantID  string // first token listed
	}{
		{"explicit path, embedded data", func(t *testing.T, dir string) client.KubeconfigOptions {
			return client.KubeconfigOptions{ExplicitPath: good.write(t, filepath.Join(dir, "admin.conf")),
				HomeDir: dir, Fallback: filepath.Join(dir, "missing")}
		}, ts.url, "", "abcdef"},
		{"explicit path, relative file paths", func(t *testing.T, dir string) client.KubeconfigOptions {
			k := good
			k.files = true
			return client.KubeconfigOptions{ExplicitPath: k.write(t, filepath.Join(dir, "sub", "admin.conf"))}
		}, ts.url, "", "abcdef"},
		{"explicit path missing", func(t *testing.T, dir string) client.KubeconfigOptions {
			good.write(t, filepath.Join(dir, ".kube", "config"))
			return client.KubeconfigOptions{ExplicitPath: filepath.Join(dir, "nope"), HomeDir: dir}
		}, "", "--kubeconfig " + "DIR/nope", ""},
		{"KUBECONFIG list, first missing", func(t *testing.T, dir string) client.KubeconfigOptions {
			p := good.write(t, filepath.Join(dir, "b.conf"))
			return client.KubeconfigOptions{EnvPaths: filepath.Join(dir, "a.conf") + string(filepath.ListSeparator) + p}
		}, ts.url, "", "abcdef"},
		{"KUBECONFIG wins over home", func(t *testing.T, dir string) client.KubeconfigOptions {
			kubeconfig{server: ts.url, ca: ts.ca.cert}.write(t, filepath.Join(dir, ".kube", "config"))
			return client.KubeconfigOptions{EnvPaths: good.write(t, filepath.Join(dir, "env.conf")), HomeDir: dir}
		}, ts.url, "", "abcdef"},
		{"home", func(t *testing.T, dir string) client.KubeconfigOptions {
			good.write(t, filepath.Join(dir, ".kube", "config"))
			return client.KubeconfigOptions{HomeDir: dir, Fallback: filepath.Join(dir, "fallback")}
		}, ts.url, "", "abcdef"},
		{"fallback", func(t *testing.T, dir string) client.KubeconfigOptions {
			return client.KubeconfigOptions{HomeDir: dir, EnvPaths: filepath.Join(dir, "gone"),
				Fallback: good.write(t, filepath.Join(dir, "var", "kubeconfig"))}
		}, ts.url, "", "abcdef"},
		{"fallback only when nothing else exists", func(t *testing.T, dir string) client.KubeconfigOptions {
			good.write(t, filepath.Join(dir, ".kube", "config"))
			k := good
			k.server = "https://127.0.0.1:1"
			return client.KubeconfigOptions{HomeDir: dir, Fallback: k.write(t, filepath.Join(dir, "var", "kubeconfig"))}
		}, ts.url, "", "abcdef"},
		{"nothing found", func(t *testing.T, dir string) client.KubeconfigOptions {
			return client.KubeconfigOptions{HomeDir: dir, Fallback: filepath.Join(dir, "var", "kubeconfig")}
		}, "", "no kubeconfig found (looked at DIR/.kube/config, DIR/var/kubeconfig) and no --server given", ""},
		{"no kubeconfig, --server", func(t *testing.T, dir string) client.KubeconfigOptions {
			return client.KubeconfigOptions{HomeDir: dir, Server: plain.URL}
		}, plain.URL, "", "plain00"},
		{"--server overrides the kubeconfig's", func(t *testing.T, dir string) client.KubeconfigOptions {
			k := good
			k.server = "https://127.0.0.1:1"
			return client.KubeconfigOptions{ExplicitPath: k.write(t, filepath.Join(dir, "c")), Server: ts.url}
		}, ts.url, "", "abcdef"},
		{"context", func(t *testing.T, dir string) client.KubeconfigOptions {
			return client.KubeconfigOptions{ExplicitPath: good.write(t, filepath.Join(dir, "c")), Context: "other"}
		}, "", `context "other" does not exist`, ""},
		{"no client certificate", func(t *testing.T, dir string) client.KubeconfigOptions {
			return client.KubeconfigOptions{ExplicitPath: kubeconfig{server: ts.url, ca: ts.ca.cert}.write(t, filepath.Join(dir, "c"))}
		}, ts.url, "the server refused the request: Unauthorized (no client certificate? check --kubeconfig)", ""},
		{"node certificate", func(t *testing.T, dir string) client.KubeconfigOptions {
			return client.KubeconfigOptions{ExplicitPath: kubeconfig{server: ts.url, ca: ts.ca.cert, user: &node}.write(t, filepath.Join(dir, "c"))}
		}, ts.url, `the server refused the request: user "system:node:n1" cannot list bootstrap tokens: admin only`, ""},
		{"another cluster's CA", func(t *testing.T, dir string) client.KubeconfigOptions {
			return client.KubeconfigOptions{ExplicitPath: kubeconfig{server: ts.url, ca: otherCA.cert, user: &admin}.write(t, filepath.Join(dir, "c"))}
		}, ts.url, "not signed by the kubeconfig's certificate-authority", ""},
		{"https kubeconfig against plain HTTP", func(t *testing.T, dir string) client.KubeconfigOptions {
			k := good
			k.server = strings.Replace(plain.URL, "http://", "https://", 1)
			return client.KubeconfigOptions{ExplicitPath: k.write(t, filepath.Join(dir, "c"))}
		}, strings.Replace(plain.URL, "http://", "https://", 1), "server gave HTTP response to HTTPS client", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			wantErr := strings.ReplaceAll(tt.wantErr, "DIR", dir)
			c, err := client.NewFromKubeconfig(tt.setup(t, dir), client.WithTimeout(10*time.Second))
			if err == nil {
				if c.URL() != tt.wantURL {
					t.Fatalf("URL() = %q, want %q", c.URL(), tt.wantURL)
				}
				var toks []api.BootstrapToken
				toks, err = c.ListTokens(ctx(t))
				if err == nil && (len(toks) == 0 || toks[0].ID != tt.wantID) {
					t.Fatalf("ListTokens = %+v, want first %q", toks, tt.wantID)
				}
			}
			if wantErr == "" && err != nil {
				t.Fatalf("error %v", err)
			}
			if wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, wantErr)
			}
		})
	}
}

func TestKubeconfigErrorKinds(t *testing.T) {
	dir := t.TempDir()
	_, err := client.NewFromKubeconfig(client.KubeconfigOptions{HomeDir: dir})
	if !errors.Is(err, client.ErrNoKubeconfig) {
		t.Fatalf("error %v, want ErrNoKubeconfig", err)
	}
	ts := startTokenServer(t)
	c, err := client.NewFromKubeconfig(client.KubeconfigOptions{
		ExplicitPath: kubeconfig{server: ts.url, ca: ts.ca.cert}.write(t, filepath.Join(dir, "c"))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListTokens(ctx(t))
	if !client.IsUnauthorized(err) || client.IsForbidden(err) || client.Reason(err) != metav1.StatusReasonUnauthorized {
		t.Fatalf("error %v: want Unauthorized", err)
	}
}

func TestFallbackNotReadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file: the permission error cannot happen")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(p, []byte("apiVersion: v1\nkind: Config\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	_, err := client.NewFromKubeconfig(client.KubeconfigOptions{HomeDir: dir, Fallback: p})
	if err == nil || !strings.Contains(err.Error(), "sudo bosun kubeconfig > ~/.kube/config") {
		t.Fatalf("error %v, want how to copy the admin kubeconfig", err)
	}
}

func TestWithTLS(t *testing.T) {
	ts := startTokenServer(t)
	pool := x509.NewCertPool()
	pool.AddCert(ts.ca.x509)
	// The certificate is read for every new connection: a renewed one is used
	// without building a new client.
	var mu sync.Mutex
	current := issue(t, ts.ca, "system:node:n1", api.GroupNodes)
	getCert := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		mu.Lock()
		defer mu.Unlock()
		c, err := tls.X509KeyPair(current.cert, current.key)
		return &c, err
	}
	c, err := client.New(ts.url, client.WithTimeout(10*time.Second),
		client.WithTLS(&tls.Config{RootCAs: pool, GetClientCertificate: getCert}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListTokens(ctx(t)); !client.IsForbidden(err) {
		t.Fatalf("node certificate: error %v, want Forbidden", err)
	}
	mu.Lock()
	current = issue(t, ts.ca, "admin", api.GroupMasters)
	mu.Unlock()
	// The server closes every connection: the next request's handshake
	// presents the new certificate.
	if toks, err := c.ListTokens(ctx(t)); err != nil || len(toks) != 1 {
		t.Fatalf("renewed (admin) certificate: %v, %v", toks, err)
	}
}

// TestKubeconfigCertificateFilesReloaded checks a kubeconfig that names its
// client certificate and key as files picks up a renewed pair written there
// (client-go rereads them at most once a second), without a new client.
func TestKubeconfigCertificateFilesReloaded(t *testing.T) {
	ts := startTokenServer(t)
	node := issue(t, ts.ca, "system:node:n1", api.GroupNodes)
	path := kubeconfig{server: ts.url, ca: ts.ca.cert, user: &node, files: true}.write(t, filepath.Join(t.TempDir(), "kubeconfig"))
	c, err := client.NewFromKubeconfig(client.KubeconfigOptions{ExplicitPath: path}, client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListTokens(ctx(t)); !client.IsForbidden(err) {
		t.Fatalf("node certificate: error %v, want Forbidden", err)
	}
	renewed := issue(t, ts.ca, "admin", api.GroupMasters)
	for name, data := range map[string][]byte{"user.crt": renewed.cert, "user.key": renewed.key} {
		tmp := filepath.Join(filepath.Dir(path), name+".tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(filepath.Dir(path), name)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, "the renewed certificate to be used", func() (bool, string) {
		_, err := c.ListTokens(ctx(t))
		return err == nil, fmt.Sprint(err)
	})
}
