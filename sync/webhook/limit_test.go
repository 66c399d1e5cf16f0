package webhook

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// fakeClock is a settable clock for the rate limiter.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestRateLimit(t *testing.T) {
	const secret = "k"
	const body = `{"ref":"refs/heads/main"}`
	signed := map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(secret, body)}
	unsigned := map[string]string{"X-GitHub-Event": "push"}
	type step struct {
		after      time.Duration // clock advance before the request
		header     map[string]string
		method     string
		wantCode   int
		wantRetry  string // Retry-After of a 429
		wantTotals int32  // triggers so far
	}
	tests := []struct {
		name  string
		rate  rate.Limit
		burst int
		steps []step
	}{
		{name: "burst then refill", rate: 1, burst: 2, steps: []step{
			{header: signed, wantCode: 202, wantTotals: 1},
			{header: signed, wantCode: 202, wantTotals: 2},
			{header: signed, wantCode: 429, wantRetry: "1", wantTotals: 2},
			{after: 500 * time.Millisecond, header: signed, wantCode: 429, wantRetry: "1", wantTotals: 2},
			{after: 500 * time.Millisecond, header: signed, wantCode: 202, wantTotals: 3},
			{header: signed, wantCode: 429, wantRetry: "1", wantTotals: 3},
		}},
		{name: "slow rate says how long to wait", rate: 0.1, burst: 1, steps: []step{
			{header: signed, wantCode: 202, wantTotals: 1},
			{header: signed, wantCode: 429, wantRetry: "10", wantTotals: 1},
			{after: 2500 * time.Millisecond, header: signed, wantCode: 429, wantRetry: "8", wantTotals: 1},
			{after: 7500 * time.Millisecond, header: signed, wantCode: 202, wantTotals: 2},
		}},
		{name: "unsigned and wrong-method requests spend tokens before any check", rate: 1, burst: 2, steps: []step{
			{header: unsigned, wantCode: 401},
			{method: http.MethodGet, wantCode: 405},
			{header: signed, wantCode: 429, wantRetry: "1"},
		}},
		{name: "refused requests do not spend tokens", rate: 1, burst: 1, steps: []step{
			{header: signed, wantCode: 202, wantTotals: 1},
			{after: 100 * time.Millisecond, header: signed, wantCode: 429, wantRetry: "1", wantTotals: 1},
			{after: 100 * time.Millisecond, header: signed, wantCode: 429, wantRetry: "1", wantTotals: 1},
			{after: 800 * time.Millisecond, header: signed, wantCode: 202, wantTotals: 2},
		}},
		{name: "no limit", rate: rate.Inf, burst: 1, steps: []step{
			{header: signed, wantCode: 202, wantTotals: 1},
			{header: signed, wantCode: 202, wantTotals: 2},
			{header: signed, wantCode: 202, wantTotals: 3},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
			var n int32
			h := New(Config{Secret: secret, Trigger: func() { n++ }, Rate: tt.rate, Burst: tt.burst, Now: clock.now})
			for i, s := range tt.steps {
				clock.t = clock.t.Add(s.after)
				method := s.method
				if method == "" {
					method = http.MethodPost
				}
				req := httptest.NewRequest(method, Path, strings.NewReader(body))
				for k, v := range s.header {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != s.wantCode {
					t.Errorf("request %d: status %d (%s), want %d", i, rec.Code, strings.TrimSpace(rec.Body.String()), s.wantCode)
				}
				if got := rec.Header().Get("Retry-After"); got != s.wantRetry {
					t.Errorf("request %d: Retry-After %q, want %q", i, got, s.wantRetry)
				}
				if n != s.wantTotals {
					t.Errorf("request %d: %d triggers so far, want %d", i, n, s.wantTotals)
				}
			}
		})
	}
}

// TestDefaultLimit checks that Handler is limited: DefaultBurst requests
// pass at one instant and the next gets 429.
func TestDefaultLimit(t *testing.T) {
	h := Handler("", func() {}, nil)
	for i := range DefaultBurst + 1 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, nil))
		want := http.StatusAccepted
		if i == DefaultBurst {
			want = http.StatusTooManyRequests
		}
		if rec.Code != want {
			t.Fatalf("request %d: status %d, want %d", i, rec.Code, want)
		}
	}
}

func TestCheckListener(t *testing.T) {
	tests := []struct {
		secret, addr string
		wantErr      string // "" means allowed
	}{
		{addr: "127.0.0.1:6443"},
		{addr: "127.0.0.2:6443"},
		{addr: "[::1]:6443"},
		{addr: "localhost:6443"},
		{addr: ":6443", wantErr: `served without a secret on ":6443" (every interface)`},
		{addr: "0.0.0.0:6443", wantErr: "(every interface)"},
		{addr: "[::]:6443", wantErr: "(every interface)"},
		{addr: "10.0.0.1:6443", wantErr: `on "10.0.0.1:6443" (a non-loopback address)`},
		{addr: "example.com:6443", wantErr: "(a host name)"},
		{addr: "6443", wantErr: `listen address "6443"`},
		{secret: "s", addr: ":6443"},
		{secret: "s", addr: "10.0.0.1:6443"},
	}
	for _, tt := range tests {
		t.Run(tt.addr+"/secret="+tt.secret, func(t *testing.T) {
			err := CheckListener(tt.secret, tt.addr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckListener: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckListener: %v, want an error containing %q", err, tt.wantErr)
			}
			if strings.Contains(tt.wantErr, "listen address") {
				return // a malformed address, not a missing secret
			}
			if !errors.Is(err, ErrSecretRequired) {
				t.Errorf("error %v does not wrap ErrSecretRequired", err)
			}
		})
	}
}
