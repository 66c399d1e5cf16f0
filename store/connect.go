package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

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

// checkHealth waits until etcd answers a read, or ctx ends. After each
// DialTimeout without an answer it tries the TLS handshake with every https
// endpoint: one refused (a server certificate of an unknown authority, a
// client certificate missing or of another CA) does not mend by waiting, so
// it is returned at once, naming the endpoint.
func checkHealth(ctx context.Context, c *clientv3.Client, cfg clientv3.Config) error {
	what := "connect to etcd " + strings.Join(cfg.Endpoints, ",")
	for {
		attempt, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
		_, err := c.Get(attempt, "health", clientv3.WithKeysOnly())
		timedOut := attempt.Err() != nil
		cancel()
		switch {
		case err == nil:
			return nil
		case !timedOut:
			return mapErr(what, err)
		}
		if terr := probeTLS(ctx, cfg); terr != nil {
			return fmt.Errorf("store: %s: %w", what, terr)
		}
		if ctx.Err() != nil {
			return mapErr(what, err)
		}
	}
}

// probeTLS returns the first TLS failure of a handshake with cfg's https
// endpoints, and nil when every handshake works or an endpoint cannot be
// reached at all (that may mend).
func probeTLS(ctx context.Context, cfg clientv3.Config) error {
	if cfg.TLS == nil {
		return nil
	}
	for _, ep := range cfg.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || u.Scheme != "https" {
			continue
		}
		if err := probeTLSOne(ctx, cfg.TLS, u.Host); err != nil {
			return fmt.Errorf("TLS with %s: %w", ep, err)
		}
	}
	return nil
}

func probeTLSOne(ctx context.Context, base *tls.Config, addr string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	tc := base.Clone()
	tc.NextProtos = []string{"h2"}
	d := tls.Dialer{Config: tc}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil // not reachable: not a TLS problem
		}
		return err
	}
	defer conn.Close()
	// With TLS 1.3 the server judges the client's certificate after the
	// client's side of the handshake is done: its verdict is the first read.
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		var alert tls.AlertError
		if errors.As(err, &alert) || strings.Contains(err.Error(), "remote error") {
			return err
		}
	}
	return nil
}
