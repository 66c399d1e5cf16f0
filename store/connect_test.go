package store_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/pki"
	"github.com/bosun-dev/bosun/store"
)

// tlsFiles are PEM files of a CA and a leaf certificate it issued.
type tlsFiles struct{ ca, cert, key string }

// issueFiles writes a certificate of ca for user with usage into dir.
func issueFiles(t *testing.T, ca *pki.CA, dir, user string, usage pki.Usage) tlsFiles {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(pki.Request{User: api.User{Name: user}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: usage})
	if err != nil {
		t.Fatal(err)
	}
	f := tlsFiles{ca: filepath.Join(dir, user+"-ca.crt"), cert: filepath.Join(dir, user+".crt"), key: filepath.Join(dir, user+".key")}
	for path, data := range map[string][]byte{f.ca: ca.CertPEM(), f.cert: certPEM, f.key: keyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// freeURL returns scheme://127.0.0.1:PORT with a port free a moment ago.
func freeURL(t *testing.T, scheme string) url.URL {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return url.URL{Scheme: scheme, Host: l.Addr().String()}
}

// startTLSEtcd starts an etcd whose clients must speak TLS with a
// certificate of the returned CA (etcd's --client-cert-auth) and returns its
// client URL and a client's files.
func startTLSEtcd(t *testing.T) (string, tlsFiles) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	server := issueFiles(t, ca, dir, "etcd-server", pki.UsageServer)
	client := issueFiles(t, ca, dir, "etcd-client", pki.UsageClient)

	cfg := embed.NewConfig()
	cfg.Dir = filepath.Join(dir, "etcd")
	curl, purl := freeURL(t, "https"), freeURL(t, "http")
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{curl}, []url.URL{curl}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{purl}, []url.URL{purl}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.LogLevel = "error"
	cfg.ClientTLSInfo.CertFile = server.cert
	cfg.ClientTLSInfo.KeyFile = server.key
	cfg.ClientTLSInfo.TrustedCAFile = server.ca
	cfg.ClientTLSInfo.ClientCertAuth = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("etcd with client TLS not ready after 30 s")
	}
	return curl.String(), client
}

func TestConnectTLS(t *testing.T) {
	endpoint, client := startTLSEtcd(t)
	dir := t.TempDir()
	otherCA, err := pki.LoadOrCreateCA(filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	stranger := issueFiles(t, otherCA, dir, "stranger", pki.UsageClient)

	tests := []struct {
		name    string
		files   *tlsFiles // nil: no WithTLS
		wantErr string
	}{
		{name: "client certificate of the cluster's CA", files: &client},
		{name: "no client certificate", files: &tlsFiles{ca: client.ca}, wantErr: "certificate"},
		{name: "client certificate of another CA", files: &tlsFiles{ca: client.ca, cert: stranger.cert, key: stranger.key}, wantErr: "certificate"},
		{name: "server not trusted", files: &tlsFiles{ca: stranger.ca, cert: client.cert, key: client.key}, wantErr: "certificate"},
		{name: "no TLS options: system roots", wantErr: "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []store.ConnectOption
			if tt.files != nil {
				cfg, err := store.ClientTLSFiles(tt.files.ca, tt.files.cert, tt.files.key)
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, store.WithTLS(cfg))
			}
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			cli, err := store.Connect(ctx, []string{endpoint}, opts...)
			if tt.wantErr != "" {
				if err == nil {
					cli.Close()
					t.Fatalf("connected, want an error about %q", tt.wantErr)
				}
				t.Log(err)
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want one about %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			s := store.New(cli, store.Options{})
			if _, err := s.PutRaw(ctx, "/bosun/test/tls", []byte("yes")); err != nil {
				t.Fatal(err)
			}
			// A snapshot travels over the same TLS connection.
			info, err := store.SaveSnapshot(ctx, cli, filepath.Join(t.TempDir(), "snap.db"))
			if err != nil {
				t.Fatal(err)
			}
			if info.Keys < 1 {
				t.Errorf("snapshot over TLS holds %d keys, want the one written", info.Keys)
			}
		})
	}
}

func TestClientTLSFilesRefuses(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	good := issueFiles(t, ca, dir, "client", pki.UsageClient)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		ca, cert, key  string
		wantErr        error
		wantMsg        string
		wantClientCert bool
	}{
		{name: "all three", ca: good.ca, cert: good.cert, key: good.key, wantClientCert: true},
		{name: "CA only", ca: good.ca},
		{name: "certificate without key", ca: good.ca, cert: good.cert, wantErr: api.ErrInvalid, wantMsg: "together"},
		{name: "key without certificate", key: good.key, wantErr: api.ErrInvalid, wantMsg: "together"},
		{name: "CA file without PEM", ca: notPEM, wantErr: api.ErrInvalid, wantMsg: notPEM},
		{name: "CA file missing", ca: filepath.Join(dir, "missing.crt"), wantErr: os.ErrNotExist},
		{name: "key of another certificate", cert: good.cert, key: good.ca, wantErr: api.ErrInvalid, wantMsg: good.cert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := store.ClientTLSFiles(tt.ca, tt.cert, tt.key)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("error %v, want %v naming %q", err, tt.wantErr, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MinVersion != tls.VersionTLS12 || cfg.RootCAs == nil || (len(cfg.Certificates) == 1) != tt.wantClientCert {
				t.Errorf("config: MinVersion %x, RootCAs %v, %d certificates", cfg.MinVersion, cfg.RootCAs != nil, len(cfg.Certificates))
			}
		})
	}
}
