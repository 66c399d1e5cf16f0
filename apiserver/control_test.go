package apiserver_test

import (
	"context"
	"encoding/json"

	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/sync/state"
)

func TestControl(t *testing.T) {
	now := time.Date(2026, 12, 24, 12, 0, 0, 0, time.UTC)
	head := "0123456789abcdef0123456789abcdef01234567"
	triggered := 0
	clock := now
	tick := func() time.Time { clock = clock.Add(time.Millisecond); return clock } // history entries are keyed by time
	e := newEnv(t, apiserver.Config{Now: tick, TriggerSync: func() { triggered++ },
		BranchHead: func(context.Context) (string, error) { return head, nil }, SyncPolicy: "manual"})
	for _, tc := range []struct {
		name, method, path string
		body               any
		code               int
		want               string
	}{
		{"freeze", "POST", api.PathFreeze, api.ControlRequest{Reason: "holidays", Until: now.Add(time.Hour)}, 200, `"frozen":{"by":"admin","reason":"holidays"`},
		{"freeze in the past", "POST", api.PathFreeze, api.ControlRequest{Until: now.Add(-time.Hour)}, 400, "not in the future"},
		{"unfreeze", "DELETE", api.PathFreeze, nil, 200, `"syncPolicy":"manual"`},
		{"unfreeze again", "DELETE", api.PathFreeze, nil, 409, "not frozen"},
		{"suspend", "POST", api.PathSuspend, api.ControlRequest{Reason: "incident"}, 200, `"suspended":{"by":"admin"`},
		{"resume", "DELETE", api.PathSuspend, nil, 200, ""},
		{"resume again", "DELETE", api.PathSuspend, nil, 409, "not suspended"},
		{"sync the head", "POST", api.PathSync, api.ControlRequest{Commit: "0123456"}, 200, `"approved":"` + head},
		{"sync another commit", "POST", api.PathSync, api.ControlRequest{Commit: "fedcba9"}, 400, "is not the head of the branch"},
		{"GET", "GET", api.PathSync, nil, 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(tc.method, tc.path, tc.body)
			if code != tc.code || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%s %s: %d %s, want %d containing %q", tc.method, tc.path, code, body, tc.code, tc.want)
			}
		})
	}
	if triggered != 5 {
		t.Errorf("the sync loop was woken %d times, want 5 (once per change)", triggered)
	}
	h, err := records.ReadHistory(t.Context(), e.st, 0)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, a := range h {
		if a.Result == state.ResultControl {
			msgs = append(msgs, a.Message)
		}
	}
	if len(msgs) != 5 || !strings.Contains(strings.Join(msgs, "\n"), "frozen until 2026-12-24T13:00:00Z by admin: holidays") {
		b, _ := json.Marshal(msgs)
		t.Errorf("history of the controls: %s", b)
	}
}
