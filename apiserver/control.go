package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/audit"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/sync/state"
)

// serveControl answers the control paths (api.PathFreeze, PathSuspend,
// PathSync): it changes the sync's controls with a history entry naming
// the user, wakes the sync loop, and answers with the sync status.
func (s *Server) serveControl(w http.ResponseWriter, req *http.Request) {
	var in api.ControlRequest
	if req.Method == http.MethodPost && req.ContentLength != 0 {
		if aerr := jsonBody(req); aerr != nil {
			writeError(w, aerr)
			return
		}
		body, aerr := s.readBody(w, req)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if len(body) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				writeError(w, errBadRequest("decode the request: %v", err))
				return
			}
		}
	}
	u, _ := UserFrom(req.Context())
	now := s.cfg.Now()
	hold := &state.Hold{By: u.Name, Reason: in.Reason, Since: now.UTC(), Until: in.Until.UTC()}
	var change func(c *state.Control) (string, error)
	switch req.URL.Path + " " + req.Method {
	case api.PathFreeze + " POST":
		if !in.Until.IsZero() && !in.Until.After(now) {
			writeError(w, errBadRequest("--until %s is not in the future", in.Until.Format(time.RFC3339)))
			return
		}
		change = func(c *state.Control) (string, error) {
			c.Frozen = hold
			until := "until unfrozen"
			if !hold.Until.IsZero() {
				until = "until " + hold.Until.Format(time.RFC3339)
			}
			return fmt.Sprintf("frozen %s by %s%s", until, u.Name, suffix(in.Reason)), nil
		}
	case api.PathFreeze + " DELETE":
		change = func(c *state.Control) (string, error) {
			if !c.Frozen.Active(now) {
				return "", errNotFrozen
			}
			c.Frozen = nil
			return "unfrozen by " + u.Name, nil
		}
	case api.PathSuspend + " POST":
		change = func(c *state.Control) (string, error) {
			c.Suspended = hold
			return fmt.Sprintf("suspended by %s%s", u.Name, suffix(in.Reason)), nil
		}
	case api.PathSuspend + " DELETE":
		change = func(c *state.Control) (string, error) {
			if c.Suspended == nil {
				return "", errNotSuspended
			}
			c.Suspended = nil
			return "resumed by " + u.Name, nil
		}
	case api.PathSync + " POST", api.PathAcceptRewrite + " POST":
		// Both name the branch head: approved for a manual sync, or accepted
		// although it rewrote history.
		head, err := s.branchHead(req, in.Commit)
		if err != nil {
			writeError(w, errBadRequest("%v", err))
			return
		}
		short := state.CommitInfo{SHA: head}.Short()
		change = func(c *state.Control) (string, error) {
			if req.URL.Path == api.PathAcceptRewrite {
				c.AcceptedRewrite = head
				return fmt.Sprintf("history rewrite to %s accepted by %s%s", short, u.Name, suffix(in.Reason)), nil
			}
			c.Approved = head
			return fmt.Sprintf("sync of %s asked by %s%s", short, u.Name, suffix(in.Reason)), nil
		}
	default:
		writeError(w, errMethodNotAllowed("%s is not supported on %s", req.Method, req.URL.Path))
		return
	}
	who := audit.UserInfo{Username: u.Name, Groups: u.Groups}
	if _, err := records.ChangeControlAudited(req.Context(), s.cfg.Store, s.cfg.Audit, who, now, change); err != nil {
		switch {
		case errors.Is(err, errNotFrozen), errors.Is(err, errNotSuspended):
			writeError(w, newStatusError(http.StatusConflict, "Conflict", err.Error()))
		default:
			writeError(w, errInternal(err))
		}
		return
	}
	if s.cfg.TriggerSync != nil {
		s.cfg.TriggerSync()
	}
	s.serveSyncStatusOf(w, req)
}

var (
	errNotFrozen    = errors.New("syncing is not frozen")
	errNotSuspended = errors.New("syncing is not suspended")
)

func suffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// branchHead returns the SHA of the tracked branch's head, which `bosun
// sync` applies; want, when set, must name it (a prefix of 7 or more
// characters).
func (s *Server) branchHead(req *http.Request, want string) (string, error) {
	if s.cfg.BranchHead == nil {
		return "", errors.New("this server cannot read the branch (no Git source)")
	}
	head, err := s.cfg.BranchHead(req.Context())
	if err != nil {
		return "", fmt.Errorf("read the branch head: %w", err)
	}
	if want == "" {
		return head, nil
	}
	if len(want) < 7 || !strings.HasPrefix(head, strings.ToLower(want)) {
		return "", fmt.Errorf("commit %s is not the head of the branch (%s): bosun sync applies the head; to apply an older commit, revert the newer ones in Git", want, state.CommitInfo{SHA: head}.Short())
	}
	return head, nil
}
