package store

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/api"
)

// ConnectOption changes how Connect dials etcd.
type ConnectOption func(*clientv3.Config)

// WithTLS makes Connect speak TLS with cfg: the CA that signed the members'
// serving certificates, and a client certificate when the cluster requires
// one (etcd's --client-cert-auth). See ClientTLSFiles.
func WithTLS(cfg *tls.Config) ConnectOption {
	return func(c *clientv3.Config) { c.TLS = cfg }
}

// ClientTLSFiles builds the TLS configuration of an etcd client from PEM files,
// as etcdctl's --cacert, --cert and --key do: caFile is the CA that signed
// the members' serving certificates (empty: the system's roots), certFile and
// keyFile the client certificate and its key (both or neither). Errors wrap
// api.ErrInvalid and name the file.
func ClientTLSFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("store: etcd CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store: etcd CA file %s: %w: no PEM certificate in it", caFile, api.ErrInvalid)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("store: etcd client certificate: %w: give the certificate file and the key file together (cert %q, key %q)", api.ErrInvalid, certFile, keyFile)
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("store: etcd client certificate %s, key %s: %w: %w", certFile, keyFile, api.ErrInvalid, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// httpsDefault gives a configuration without TLS whose endpoints are https
// the default one: the members are verified against the system's roots.
func httpsDefault(cfg *clientv3.Config) {
	if cfg.TLS == nil && slices.ContainsFunc(cfg.Endpoints, func(e string) bool { return strings.HasPrefix(e, "https://") }) {
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
}
