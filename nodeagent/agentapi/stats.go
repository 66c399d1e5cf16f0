package agentapi

import (
	"encoding/json"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
)

// summary answers GET /stats/summary: kubelet's stats summary, with the
// window of its CPU rates in the api.HeaderStatsWindow header; 503 until
// the first sample.
func (s *Server) summary(w http.ResponseWriter, r *http.Request) *apiError {
	if s.cfg.Stats == nil {
		return newError(http.StatusNotImplemented, metav1.StatusReasonBadRequest, "this agent collects no stats")
	}
	sum, window := s.cfg.Stats.Summary()
	if sum == nil {
		return newError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
			"the agent has taken no stats sample yet; try again in a few seconds")
	}
	b, err := json.Marshal(sum)
	if err != nil {
		return newError(http.StatusInternalServerError, metav1.StatusReasonInternalError, "agentapi: encode the stats summary: %v", err)
	}
	w.Header().Set("Content-Type", "application/json")
	if window > 0 {
		w.Header().Set(api.HeaderStatsWindow, window.String())
	}
	_, _ = w.Write(append(b, '\n'))
	return nil
}
