package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrSecretRequired is wrapped by CheckListener's error: a webhook without
// a secret would be reachable from other machines.
var ErrSecretRequired = errors.New("a webhook reachable from other machines needs a secret")

// CheckListener returns an error wrapping ErrSecretRequired when secret is
// empty and addr (a "host:port" listen address serving Path) is reachable
// from other machines: every interface (no host, 0.0.0.0, ::), a
// non-loopback address, or a host name other than "localhost". Without a
// secret anyone who reaches the address could trigger fetches; on a
// loopback address only this machine can. With a secret any address is
// fine.
func CheckListener(secret, addr string) error {
	if secret != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("webhook: listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err == nil && ip.IsLoopback() {
		return nil
	}
	what := "a host name"
	switch {
	case host == "" || (err == nil && ip.IsUnspecified()):
		what = "every interface"
	case err == nil:
		what = "a non-loopback address"
	}
	return fmt.Errorf("webhook: %s is served without a secret on %q (%s): %w", Path, addr, what, ErrSecretRequired)
}
