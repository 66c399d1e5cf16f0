package containerd

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// DialSandbox connects to 127.0.0.1:port inside the network namespace of
// sandbox id (kubectl port-forward): what listens on the pod's loopback or
// on all its addresses answers. A sandbox without a namespace of its own
// (host network) is dialled on the node's loopback. ErrNotFound for an
// unknown sandbox, ErrInvalidState for one that is not ready.
func (r *Runtime) DialSandbox(ctx context.Context, id string, port int) (net.Conn, error) {
	s, err := r.readSandbox(id)
	if err != nil {
		return nil, err
	}
	if s.State != runtime.SandboxReady {
		return nil, fmt.Errorf("containerd runtime: sandbox %s is %s: %w", id, s.State, runtime.ErrInvalidState)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if s.NetNSPath == "" {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	conn, err := dialInNetNS(ctx, s.NetNSPath, addr)
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: sandbox %s: %w", id, err)
	}
	return conn, nil
}
