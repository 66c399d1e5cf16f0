package agentapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/net/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// TerminalExecer runs commands with a terminal whose size follows the
// client's window. The containerd runtime implements it; without it a
// terminal keeps the size it starts with.
type TerminalExecer interface {
	// ExecTTY is Execer.Exec with a terminal (its output, stdout and
	// stderr both, goes to stdout) resized to every size resize sends.
	ExecTTY(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout io.Writer, resize <-chan runtime.TerminalSize) (int, error)
}

// SandboxDialer connects to ports inside pods' network namespaces, for
// port forwarding. The containerd runtime implements it.
type SandboxDialer interface {
	// DialSandbox connects to 127.0.0.1:port in the network namespace of
	// sandbox id. runtime.ErrNotFound for an unknown sandbox.
	DialSandbox(ctx context.Context, id string, port int) (net.Conn, error)
}

// Stream timeouts, kubelet's defaults: a session with no traffic for
// streamIdleTimeout is closed; a client that does not open the streams
// it announced within streamCreationTimeout is refused.
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// v5 and v4 of the WebSocket exec protocol: channels 0-4 are stdin,
// stdout, stderr, the status (error) and terminal resizes; v5 adds the
// client's close of stdin (channel 255).
const (
	execProtocolV5 = remotecommand.StreamProtocolV5Name
	execProtocolV4 = remotecommand.StreamProtocolV4Name
)

// streamExec answers an upgrade request (WebSocket or SPDY) on
// /exec/{namespace}/{pod}/{container}: kubectl exec's protocols.
func (s *Server) streamExec(w http.ResponseWriter, r *http.Request) *apiError {
	ns, podName, name := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		return badRequest("you must specify at least one command for the container")
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		return badRequest("%v", err)
	}
	ex, pod, id, aerr := s.execTarget(r.Context(), ns, podName, name)
	if aerr != nil {
		return aerr
	}
	run := execFunc(func(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, tty bool, resize <-chan runtime.TerminalSize) (int, error) {
		if te, ok := ex.(TerminalExecer); ok && tty {
			return te.ExecTTY(ctx, id, cmd, stdin, stdout, resize)
		}
		return ex.Exec(ctx, id, cmd, stdin, stdout, stderr, tty)
	})
	if wsstream.IsWebSocketRequest(r) {
		s.serveWebSocketExec(w, r, opts, run)
		return nil
	}
	remotecommand.ServeExec(w, r, run, podName, string(pod.UID), name, cmd, opts,
		streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
	return nil
}

// attach answers /attach/{namespace}/{pod}/{container}: refused, because
// bosun's containers have nothing to attach to.
func (s *Server) attach(w http.ResponseWriter, r *http.Request) *apiError {
	return badRequest("cannot attach to container %s of pod %s: bosun starts containers without stdin "+
		"and writes their output only to their log file, so there is no terminal or stream to attach to; "+
		"use `kubectl logs -f` to follow the output and `kubectl exec -it` for a shell",
		r.PathValue("container"), r.PathValue("pod"))
}

// execTarget returns the runtime's Execer, the pod and the id of the
// current instance of its container name, which must be running.
func (s *Server) execTarget(ctx context.Context, ns, podName, name string) (Execer, *corev1.Pod, string, *apiError) {
	ex, ok := s.cfg.Runtime.(Execer)
	if !ok {
		return nil, nil, "", newError(http.StatusNotImplemented, metav1.StatusReasonMethodNotAllowed,
			"this node's runtime cannot run commands in containers")
	}
	pod, cs, aerr := s.containers(ctx, ns, podName, name)
	if aerr != nil {
		return nil, nil, "", aerr
	}
	if len(cs) == 0 || cs[0].State != runtime.ContainerRunning {
		return nil, nil, "", badRequest("container %q in pod %q is not running", name, podName)
	}
	return ex, pod, cs[0].ID, nil
}

// execFunc runs the command of one exec session with the given streams.
// It implements remotecommand.Executor for the SPDY protocols.
type execFunc func(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, tty bool, resize <-chan runtime.TerminalSize) (int, error)

// ExecInContainer runs f, returning a non-zero exit code as a
// utilexec.ExitError, which ServeExec sends as the NonZeroExitCode status.
func (f execFunc) ExecInContainer(ctx context.Context, _, _, _ string, _ []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	var sizes chan runtime.TerminalSize
	if resize != nil {
		sizes = make(chan runtime.TerminalSize)
		go forwardSizes(ctx, resize, sizes)
	}
	code, err := f(ctx, in, writerOrDiscard(out), writerOrDiscard(errw), tty, sizes)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

// forwardSizes copies terminal sizes from in to out until in is closed or
// ctx ends.
func forwardSizes(ctx context.Context, in <-chan remotecommand.TerminalSize, out chan<- runtime.TerminalSize) {
	for {
		select {
		case sz, ok := <-in:
			if !ok {
				return
			}
			select {
			case out <- runtime.TerminalSize{Width: sz.Width, Height: sz.Height}:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// writerOrDiscard turns a stream the client did not ask for (nil) into
// io.Discard.
func writerOrDiscard(w io.WriteCloser) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// serveWebSocketExec runs an exec session on the WebSocket protocols v5
// and v4 (channel.k8s.io, binary): kubectl 1.30 and later speak v5.
func (s *Server) serveWebSocketExec(w http.ResponseWriter, r *http.Request, opts *remotecommand.Options, run execFunc) {
	channel := func(want bool, t wsstream.ChannelType) wsstream.ChannelType {
		if want {
			return t
		}
		return wsstream.IgnoreChannel
	}
	channels := []wsstream.ChannelType{
		channel(opts.Stdin, wsstream.ReadChannel),
		channel(opts.Stdout, wsstream.WriteChannel),
		channel(opts.Stderr, wsstream.WriteChannel),
		wsstream.WriteChannel, // status
		wsstream.ReadChannel,  // resize
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		execProtocolV5: {Binary: true, Channels: channels},
		execProtocolV4: {Binary: true, Channels: channels},
	})
	conn.SetIdleTimeout(streamIdleTimeout)
	// The library logs through klog: to the agent's logger, at debug level
	// (it reports every connection it sees closed as an error).
	r = r.WithContext(klog.NewContext(r.Context(), logr.FromSlogHandler(debugHandler{s.log.Handler()})))
	_, streams, err := conn.Open(w, r)
	if err != nil {
		s.log.Info("exec: WebSocket upgrade failed", "path", r.URL.Path, "error", err)
		return
	}
	defer conn.Close()
	// An empty message on the first stream tells the client the session is up.
	switch {
	case opts.Stdout:
		_, _ = streams[1].Write(nil)
	case opts.Stderr:
		_, _ = streams[2].Write(nil)
	default:
		_, _ = streams[3].Write(nil)
	}
	var stdin io.Reader
	if opts.Stdin {
		stdin = streams[0]
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// A client gone before the command ended kills it: net/http cancels
	// r's context when reading the hijacked connection fails.
	var sizes chan runtime.TerminalSize
	if opts.TTY {
		sizes = make(chan runtime.TerminalSize)
	}
	go func() {
		readSizes(ctx, streams[4], sizes)
		_, _ = io.Copy(io.Discard, streams[4]) // what a bad size leaves: reading on keeps the connection going
	}()
	code, err := run(ctx, stdin, streams[1], streams[2], opts.TTY, sizes)
	b, _ := json.Marshal(execStatus(code, err))
	if _, werr := streams[3].Write(b); werr != nil {
		s.log.Info("exec: cannot send the command's status", "path", r.URL.Path, "error", werr)
	}
	// The client waits for the server to close the connection.
}

// debugHandler logs every record at debug level.
type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, r)
}

func (h debugHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return debugHandler{h.Handler.WithAttrs(attrs)}
}

func (h debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{h.Handler.WithGroup(name)}
}

// readSizes decodes the JSON terminal sizes of the resize channel into out
// (nil: drops them) until the channel ends or ctx does.
func readSizes(ctx context.Context, r io.Reader, out chan<- runtime.TerminalSize) {
	dec := json.NewDecoder(r)
	for {
		var sz runtime.TerminalSize
		if err := dec.Decode(&sz); err != nil {
			return
		}
		if out == nil {
			continue
		}
		select {
		case out <- sz:
		case <-ctx.Done():
			return
		}
	}
}

// execStatus is the v4/v5 status of a command: Success, or Failure with
// reason NonZeroExitCode and the code as cause ExitCode (kubectl exits
// with it), or an internal error.
func execStatus(code int, err error) metav1.Status {
	switch {
	case err != nil:
		return metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError,
			Code: http.StatusInternalServerError, Message: "error executing command in container: " + err.Error()}
	case code != 0:
		return metav1.Status{Status: metav1.StatusFailure, Reason: remotecommand.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: command terminated with exit code %d", code),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{
				Type: remotecommand.ExitCodeCauseType, Message: strconv.Itoa(code)}}}}
	}
	return metav1.Status{Status: metav1.StatusSuccess}
}

// portForward answers an upgrade request on /portForward/{namespace}/{pod}:
// kubectl port-forward's SPDY protocol (portforward.k8s.io), the same
// tunnelled in a WebSocket (SPDY/3.1+portforward.k8s.io, kubectl 1.31 and
// later), or the older WebSocket one. Every forwarded connection dials
// 127.0.0.1:PORT inside the pod's network namespace.
func (s *Server) portForward(w http.ResponseWriter, r *http.Request) *apiError {
	ns, podName := r.PathValue("namespace"), r.PathValue("pod")
	if !httpstream.IsUpgradeRequest(r) {
		return badRequest("port forwarding needs an upgrade request (SPDY or WebSocket), as kubectl port-forward makes")
	}
	pod, ok := s.cfg.Pods.LookupPod(ns, podName)
	if !ok {
		return newError(http.StatusNotFound, metav1.StatusReasonNotFound,
			"pod %q in namespace %q does not run on this node", podName, ns)
	}
	d, ok := s.cfg.Runtime.(SandboxDialer)
	if !ok {
		return newError(http.StatusNotImplemented, metav1.StatusReasonMethodNotAllowed,
			"this node's runtime cannot forward ports into pods")
	}
	sandbox, aerr := s.podSandbox(r.Context(), pod)
	if aerr != nil {
		return aerr
	}
	fwd := forwarder{dial: func(ctx context.Context, port int) (net.Conn, error) {
		return d.DialSandbox(ctx, sandbox, port)
	}}
	if wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
		serveTunneledPortForward(w, r, fwd, podName, string(pod.UID))
		return nil
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		return badRequest("%v", err)
	}
	portforward.ServePortForward(w, r, fwd, podName, string(pod.UID), opts,
		streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
	return nil
}

// podSandbox returns the sandbox of the pod's newest running container.
func (s *Server) podSandbox(ctx context.Context, pod *corev1.Pod) (string, *apiError) {
	cs, err := s.cfg.Runtime.ListContainers(ctx, runtime.ContainerFilter{PodUID: string(pod.UID), State: runtime.ContainerRunning})
	if err != nil {
		return "", newError(http.StatusInternalServerError, metav1.StatusReasonInternalError,
			"agentapi: list the containers of pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	var newest *runtime.Container
	for i := range cs {
		if newest == nil || cs[i].CreatedAt.After(newest.CreatedAt) {
			newest = &cs[i]
		}
	}
	if newest == nil {
		return "", badRequest("pod %q has no running container: nothing listens in it", pod.Name)
	}
	return newest.SandboxID, nil
}

// forwarder implements portforward.PortForwarder with a dial function.
type forwarder struct {
	dial func(ctx context.Context, port int) (net.Conn, error)
}

// PortForward copies between stream and a new connection to port, until
// the pod's side ends (then the client's stream is closed by the caller).
func (f forwarder) PortForward(ctx context.Context, name, _ string, port int32, stream io.ReadWriteCloser) error {
	conn, err := f.dial(ctx, int(port))
	if err != nil {
		return fmt.Errorf("cannot connect to port %d in pod %s: %w", port, name, err)
	}
	defer conn.Close()
	go func() {
		_, _ = io.Copy(conn, stream)
		if tc, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
	}()
	if _, err := io.Copy(stream, conn); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("port %d in pod %s: %w", port, name, err)
	}
	return nil
}

// serveTunneledPortForward accepts the WebSocket that kubectl 1.31 and
// later tunnel SPDY port forwarding through, and serves the SPDY protocol
// inside it, as if the tunnel were a connection upgraded to SPDY.
func serveTunneledPortForward(w http.ResponseWriter, r *http.Request, fwd forwarder, podName, uid string) {
	websocket.Server{
		Handshake: func(cfg *websocket.Config, _ *http.Request) error {
			for _, p := range cfg.Protocol {
				if p == portforward.WebsocketsSPDYTunnelingPortForwardV1 {
					cfg.Protocol = []string{p}
					return nil
				}
			}
			return fmt.Errorf("agentapi: port forwarding: no supported WebSocket subprotocol in %q", cfg.Protocol)
		},
		Handler: func(ws *websocket.Conn) {
			ws.PayloadType = websocket.BinaryFrame
			inner := r.Clone(r.Context())
			inner.Header = http.Header{}
			inner.Header.Set(httpstream.HeaderConnection, httpstream.HeaderUpgrade)
			inner.Header.Set(httpstream.HeaderUpgrade, "SPDY/3.1")
			inner.Header.Set(httpstream.HeaderProtocolVersion, portforward.ProtocolV1Name)
			portforward.ServePortForward(&tunnelWriter{conn: ws}, inner, fwd, podName, uid, &portforward.V4Options{},
				streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
		},
	}.ServeHTTP(w, r)
}

// tunnelWriter is the http.ResponseWriter of the SPDY upgrade inside a
// WebSocket tunnel: the upgrade's status line and headers are not sent
// (the client speaks SPDY on the tunnel at once), and hijacking it yields
// the tunnel.
type tunnelWriter struct {
	conn   net.Conn
	header http.Header
}

func (t *tunnelWriter) Header() http.Header {
	if t.header == nil {
		t.header = http.Header{}
	}
	return t.header
}

func (t *tunnelWriter) WriteHeader(int) {}

// Write drops what would be an HTTP body: only a refused upgrade writes
// one, and the tunnel has no place for it.
func (t *tunnelWriter) Write(b []byte) (int, error) { return len(b), nil }

func (t *tunnelWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return t.conn, bufio.NewReadWriter(bufio.NewReader(t.conn), bufio.NewWriter(t.conn)), nil
}
