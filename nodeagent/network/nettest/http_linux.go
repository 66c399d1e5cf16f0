package nettest

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// DialIn returns a dialer whose connections start inside the network
// namespace at path (a test host's Path, or /proc/PID/ns/net of a pod).
func DialIn(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := Do(path, func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// HTTPClient returns a client whose connections start in the network
// namespace at path, one connection per request (a Service balances
// connections, not requests), with tc for HTTPS (nil: the defaults) and 5
// seconds per request.
func HTTPClient(path string, tc *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       DialIn(path),
		TLSClientConfig:   tc,
	}, Timeout: 5 * time.Second}
}
