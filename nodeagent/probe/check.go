package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// Execer runs a command in a running container. A runtime that can exec
// implements it; exec probes fail on runtimes that do not.
type Execer interface {
	// Exec runs cmd in container containerID with the given streams (stdin
	// may be nil) and returns its exit code once it ended. It returns an
	// error (and no exit code) when the command could not be run at all, and
	// when ctx ends first.
	Exec(ctx context.Context, containerID string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) (int, error)
}

// DialFunc opens a connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Target is the container a probe checks.
type Target struct {
	// PodUID is the UID of the container's pod.
	PodUID string
	// PodIP is the pod's IP: the host of httpGet and tcpSocket probes that
	// name none.
	PodIP string
	// ContainerID is the runtime's id of the running container.
	ContainerID string
	// Container is the container's spec: its probes, and its ports for
	// probes that name a port.
	Container *corev1.Container
	// StartedAt is when the container started (initialDelaySeconds counts
	// from it).
	StartedAt time.Time
	// Ref is the container as Events name it (events.ContainerRef): the
	// involved object of the Unhealthy Events of failed probes.
	Ref corev1.ObjectReference
}

// Outcome is the result of one run of a probe.
type Outcome struct {
	// OK is true when the probe succeeded.
	OK bool
	// Message says why it failed (or, for exec probes, what it printed).
	Message string
}

// maxOutput bounds what is read of an HTTP body or exec output.
const maxOutput = 10 << 10

// Checker runs single probes. The zero value dials with net.Dialer and
// cannot exec.
type Checker struct {
	// Execer runs exec probes; nil makes them fail.
	Execer Execer
	// Dial opens httpGet and tcpSocket connections; nil uses net.Dialer.
	Dial DialFunc
	// UserAgent is sent by httpGet probes that set none; default "kube-probe/bosun".
	UserAgent string
}

// Check runs p once against t, within the probe's timeoutSeconds (default
// 1s) and ctx. It never returns an error: every failure is an Outcome.
func (c *Checker) Check(ctx context.Context, p *corev1.Probe, t Target) Outcome {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	defaults.Positive(&timeout, DefaultTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.HTTPGet != nil:
		return c.httpGet(ctx, p.HTTPGet, t)
	case p.TCPSocket != nil:
		return c.tcpSocket(ctx, p.TCPSocket, t)
	case p.Exec != nil:
		return c.exec(ctx, p.Exec, t)
	case p.GRPC != nil:
		return Outcome{Message: "grpc probes are not supported by bosun: use httpGet, tcpSocket or exec"}
	}
	return Outcome{Message: "the probe has no handler: set httpGet, tcpSocket or exec"}
}

func (c *Checker) dial() DialFunc {
	if c.Dial != nil {
		return c.Dial
	}
	var d net.Dialer
	return d.DialContext
}

// resolvePort turns a probe's port (a number, or the name of one of the
// container's ports) into a number.
func resolvePort(p intstr.IntOrString, ctr *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("port %d is out of range", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	if ctr != nil {
		for _, cp := range ctr.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
	}
	return 0, fmt.Errorf("the container has no port named %q", p.StrVal)
}

func hostOr(host, podIP string) string {
	if host != "" {
		return host
	}
	return podIP
}

func (c *Checker) httpGet(ctx context.Context, h *corev1.HTTPGetAction, t Target) Outcome {
	port, err := resolvePort(h.Port, t.Container)
	if err != nil {
		return Outcome{Message: "httpGet: " + err.Error()}
	}
	host := hostOr(h.Host, t.PodIP)
	if host == "" {
		return Outcome{Message: "httpGet: the pod has no IP yet"}
	}
	scheme := strings.ToLower(string(h.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	if scheme != "http" && scheme != "https" {
		return Outcome{Message: fmt.Sprintf("httpGet: scheme %q is not supported: use HTTP or HTTPS", h.Scheme)}
	}
	path := h.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		u.Path, u.RawQuery = path[:i], path[i+1:]
	} else {
		u.Path = path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Outcome{Message: "httpGet: " + err.Error()}
	}
	ua := c.UserAgent
	if ua == "" {
		ua = "kube-probe/bosun"
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "*/*")
	for _, hd := range h.HTTPHeaders {
		if strings.EqualFold(hd.Name, "Host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Set(hd.Name, hd.Value)
	}
	client := &http.Client{
		Transport: &http.Transport{
			DialContext:       c.dial(),
			DisableKeepAlives: true,
			// As kubelet: HTTPS probes do not verify the certificate.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes check liveness, not identity
		},
		// A redirect is an answer: 3xx counts as success, as kubelet's
		// redirects to another host do.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return Outcome{Message: fmt.Sprintf("Get %q: %v", u.String(), rootError(err))}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return Outcome{OK: true}
	}
	msg := fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	if b := strings.TrimSpace(string(body)); b != "" {
		msg += ": " + b
	}
	return Outcome{Message: msg}
}

func (c *Checker) tcpSocket(ctx context.Context, s *corev1.TCPSocketAction, t Target) Outcome {
	port, err := resolvePort(s.Port, t.Container)
	if err != nil {
		return Outcome{Message: "tcpSocket: " + err.Error()}
	}
	host := hostOr(s.Host, t.PodIP)
	if host == "" {
		return Outcome{Message: "tcpSocket: the pod has no IP yet"}
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	conn, err := c.dial()(ctx, "tcp", addr)
	if err != nil {
		return Outcome{Message: fmt.Sprintf("dial tcp %s: %v", addr, rootError(err))}
	}
	_ = conn.Close()
	return Outcome{OK: true}
}

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *Checker) exec(ctx context.Context, e *corev1.ExecAction, t Target) Outcome {
	if c.Execer == nil {
		return Outcome{Message: "exec probes need a runtime that can run commands in containers, and this one cannot"}
	}
	if len(e.Command) == 0 {
		return Outcome{Message: "exec: the probe has no command"}
	}
	var out limitedBuffer
	code, err := c.Execer.Exec(ctx, t.ContainerID, e.Command, nil, &out, &out, false)
	output := strings.TrimSpace(out.String())
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return Outcome{Message: fmt.Sprintf("command %q timed out", strings.Join(e.Command, " "))}
	case err != nil:
		return Outcome{Message: fmt.Sprintf("exec %q: %v", strings.Join(e.Command, " "), err)}
	case code != 0:
		msg := fmt.Sprintf("command %q exited with %d", strings.Join(e.Command, " "), code)
		if output != "" {
			msg += ": " + output
		}
		return Outcome{Message: msg}
	}
	return Outcome{OK: true, Message: output}
}

// rootError strips url.Error and net.OpError wrappers for shorter messages.
func rootError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err
}
