package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/sync/state"
)

// syncStatus is the JSON of /bosun/v1/status: the stored state.Status, and a
// message when bosun has not synced yet.
type syncStatus struct {
	state.Status
	// Message is "not synced yet" before the first sync attempt was recorded.
	Message string `json:"message,omitempty"`
}

// NotSyncedMessage is the message /bosun/v1/status carries before the first
// sync attempt was recorded (the status is then empty, and the code 200).
const NotSyncedMessage = "not synced yet"

func (s *Server) serveSyncStatus(w http.ResponseWriter, req *http.Request) {
	if !methodGET(w, req) {
		return
	}
	s.serveSyncStatusOf(w, req)
}

// serveSyncStatusOf answers with the sync status and its controls.
func (s *Server) serveSyncStatusOf(w http.ResponseWriter, req *http.Request) {
	st, err := records.ReadStatus(req.Context(), s.cfg.Store)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		writeError(w, errInternal(err))
		return
	}
	ctl, cerr := records.ReadControl(req.Context(), s.cfg.Store)
	if cerr != nil {
		writeError(w, errInternal(cerr))
		return
	}
	st.Control, st.SyncPolicy = ctl, s.cfg.SyncPolicy
	st.StoreAlarms = s.storeAlarms(req.Context())
	if errors.Is(err, api.ErrNotFound) {
		writeJSON(w, http.StatusOK, syncStatus{Status: st, Message: NotSyncedMessage})
		return
	}
	writeJSON(w, http.StatusOK, syncStatus{Status: st})
}

func (s *Server) serveSyncHistory(w http.ResponseWriter, req *http.Request) {
	if !methodGET(w, req) {
		return
	}
	limit := 0
	if raw := req.URL.Query().Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			writeError(w, errBadRequest("invalid limit %q: want a non-negative integer (0 = all)", raw))
			return
		}
		limit = n
	}
	h, err := records.ReadHistory(req.Context(), s.cfg.Store, limit)
	if err != nil {
		writeError(w, errInternal(err))
		return
	}
	if h == nil {
		h = []state.Attempt{}
	}
	writeJSON(w, http.StatusOK, h)
}

// storeAlarms reads etcd's raised alarms, each said as what it means for
// bosun; none when etcd cannot tell within a second.
func (s *Server) storeAlarms(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := s.cfg.Store.Client().AlarmList(ctx)
	if err != nil {
		s.log.Debug("could not list etcd's alarms", "err", err)
		return nil
	}
	var out []string
	for _, a := range resp.Alarms {
		switch a.Alarm {
		case etcdserverpb.AlarmType_NOSPACE:
			out = append(out, fmt.Sprintf("etcd member %x is out of space (NOSPACE): every write is refused, syncs and their records included, "+
				"so the last attempt shown may be stale; compact and defragment etcd, then disarm the alarm (etcdctl compact, defrag, alarm disarm)", a.MemberID))
		case etcdserverpb.AlarmType_CORRUPT:
			out = append(out, fmt.Sprintf("etcd member %x reports data corruption (CORRUPT): restore it from a snapshot", a.MemberID))
		default:
			out = append(out, fmt.Sprintf("etcd member %x raised alarm %s", a.MemberID, a.Alarm))
		}
	}
	return out
}
