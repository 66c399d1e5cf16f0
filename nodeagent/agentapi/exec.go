package agentapi

import (
	"errors"
	"io"
	"net/http"

	"k8s.io/streaming/pkg/httpstream"

	"github.com/bosun-dev/bosun/nodeagent/agentapi/execstream"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// exec answers POST /exec/{namespace}/{pod}/{container}: bosun's framed
// exec, or kubectl's protocols for an upgrade request (streamExec).
func (s *Server) exec(w http.ResponseWriter, r *http.Request) *apiError {
	if httpstream.IsUpgradeRequest(r) {
		return s.streamExec(w, r)
	}
	ns, podName, name := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		return badRequest("you must specify at least one command for the container")
	}
	withStdin, aerr := boolParam(r, "stdin")
	if aerr != nil {
		return aerr
	}
	if tty, _ := boolParam(r, "tty"); tty {
		return badRequest("bosun exec does not support a terminal (tty)")
	}
	ex, _, id, aerr := s.execTarget(r.Context(), ns, podName, name)
	if aerr != nil {
		return aerr
	}

	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex() // read stdin while writing output
	w.Header().Set("Content-Type", execstream.ContentType)
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	sw := execstream.NewWriter(w, func() { _ = rc.Flush() })
	var stdin io.Reader // nil: the command gets no stdin
	if withStdin {
		stdin = r.Body
	}
	code, err := ex.Exec(r.Context(), id, cmd, stdin, sw.Stdout(), sw.Stderr(), false)
	switch {
	case err != nil && errors.Is(err, runtime.ErrInvalidState):
		_ = sw.Error("container " + name + " in pod " + podName + " is not running")
	case err != nil:
		s.log.Info("exec failed", "pod", ns+"/"+podName, "container", name, "command", cmd, "error", err)
		_ = sw.Error(err.Error())
	default:
		_ = sw.Exit(code)
	}
	return nil
}
