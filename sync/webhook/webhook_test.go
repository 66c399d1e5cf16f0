package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

func TestHandler(t *testing.T) {
	const secret = "s3cret"
	const body = `{"ref":"refs/heads/main"}`
	tests := []struct {
		name        string
		secret      string
		method      string
		body        string
		header      map[string]string
		wantCode    int
		wantTrigger bool
	}{
		{name: "github push with valid signature", secret: secret, body: body,
			header:   map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(secret, body)},
			wantCode: http.StatusAccepted, wantTrigger: true},
		{name: "gitea push with github-style signature", secret: secret, body: body,
			header:   map[string]string{"X-Gitea-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(secret, body)},
			wantCode: http.StatusAccepted, wantTrigger: true},
		{name: "gitea signature header", secret: secret, body: body,
			header:   map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": sign(secret, body)},
			wantCode: http.StatusAccepted, wantTrigger: true},
		{name: "signature of another body", secret: secret, body: body,
			header:   map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(secret, body+" ")},
			wantCode: http.StatusUnauthorized},
		{name: "signature with wrong secret", secret: secret, body: body,
			header:   map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign("other", body)},
			wantCode: http.StatusUnauthorized},
		{name: "signature without sha256 prefix", secret: secret, body: body,
			header:   map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, body)},
			wantCode: http.StatusUnauthorized},
		{name: "signature not hex", secret: secret, body: body,
			header:   map[string]string{"X-Hub-Signature-256": "sha256=zz"},
			wantCode: http.StatusUnauthorized},
		{name: "missing signature", secret: secret, body: body,
			header:   map[string]string{"X-GitHub-Event": "push"},
			wantCode: http.StatusUnauthorized},
		{name: "gitlab token", secret: secret, body: body,
			header:   map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret},
			wantCode: http.StatusAccepted, wantTrigger: true},
		{name: "wrong gitlab token", secret: secret, body: body,
			header:   map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "s3cre"},
			wantCode: http.StatusUnauthorized},
		{name: "ping is answered without trigger", secret: secret, body: `{"zen":"hi"}`,
			header:   map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + sign(secret, `{"zen":"hi"}`)},
			wantCode: http.StatusOK},
		{name: "unsigned ping is refused", secret: secret, body: `{}`,
			header:   map[string]string{"X-GitHub-Event": "ping"},
			wantCode: http.StatusUnauthorized},
		{name: "other event ignored", secret: secret, body: body,
			header:   map[string]string{"X-GitHub-Event": "issues", "X-Hub-Signature-256": "sha256=" + sign(secret, body)},
			wantCode: http.StatusOK},
		{name: "no secret configured triggers", body: body,
			header:   map[string]string{"X-GitHub-Event": "push"},
			wantCode: http.StatusAccepted, wantTrigger: true},
		{name: "no secret, plain curl", body: "",
			wantCode: http.StatusAccepted, wantTrigger: true},
		{name: "no secret, ping", body: "{}", header: map[string]string{"X-GitHub-Event": "ping"},
			wantCode: http.StatusOK},
		{name: "GET not allowed", secret: secret, method: http.MethodGet,
			wantCode: http.StatusMethodNotAllowed},
		{name: "PUT not allowed without secret", method: http.MethodPut, body: body,
			wantCode: http.StatusMethodNotAllowed},
		{name: "body over 1 MiB", secret: secret, body: strings.Repeat("x", MaxBodyBytes+1),
			header:   map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(secret, strings.Repeat("x", MaxBodyBytes+1))},
			wantCode: http.StatusRequestEntityTooLarge},
		{name: "body of exactly 1 MiB", secret: secret, body: strings.Repeat("x", MaxBodyBytes),
			header:   map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(secret, strings.Repeat("x", MaxBodyBytes))},
			wantCode: http.StatusAccepted, wantTrigger: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var triggered atomic.Int32
			h := Handler(tt.secret, func() { triggered.Add(1) }, nil)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, Path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Errorf("status = %d (%s), want %d", rec.Code, strings.TrimSpace(rec.Body.String()), tt.wantCode)
			}
			wantN := int32(0)
			if tt.wantTrigger {
				wantN = 1
			}
			if n := triggered.Load(); n != wantN {
				t.Errorf("trigger called %d times, want %d", n, wantN)
			}
			if tt.wantCode == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow header = %q", rec.Header().Get("Allow"))
			}
		})
	}
}

// TestHandlerOverHTTP sends a signed push through a real server on 127.0.0.1.
func TestHandlerOverHTTP(t *testing.T) {
	wake := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.Handle(Path, Handler("k", func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}, nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	body := `{"ref":"refs/heads/main"}`
	req, err := http.NewRequest(http.MethodPost, srv.URL+Path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+sign("k", body))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", resp.StatusCode)
	}
	select {
	case <-wake:
	default:
		t.Fatal("trigger not called before the response")
	}
}

// TestNoSecretLoopbackOnly: a webhook without a secret takes pushes that
// arrive on a loopback address and refuses (403, no sync) those that
// arrive on any other address of the machine; with a secret, signed
// pushes are taken on any address.
func TestNoSecretLoopbackOnly(t *testing.T) {
	tests := []struct {
		name     string
		secret   string
		local    net.Addr
		wantCode int
	}{
		{name: "no secret, on 127.0.0.1", local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6443}, wantCode: http.StatusAccepted},
		{name: "no secret, on ::1", local: &net.TCPAddr{IP: net.IPv6loopback, Port: 6443}, wantCode: http.StatusAccepted},
		{name: "no secret, on a machine address", local: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 6443}, wantCode: http.StatusForbidden},
		{name: "no secret, on an IPv4-mapped machine address", local: &net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.7"), Port: 6443}, wantCode: http.StatusForbidden},
		{name: "a secret, on a machine address", secret: "k", local: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 6443}, wantCode: http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var triggered atomic.Int32
			h := Handler(tt.secret, func() { triggered.Add(1) }, nil)
			req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader("{}"))
			req.Header.Set("X-GitHub-Event", "push")
			if tt.secret != "" {
				req.Header.Set("X-Gitlab-Token", tt.secret)
			}
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, tt.local))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			wantTriggers := int32(0)
			if tt.wantCode == http.StatusAccepted {
				wantTriggers = 1
			}
			if rec.Code != tt.wantCode || triggered.Load() != wantTriggers {
				t.Fatalf("push = %d %q, %d syncs; want %d, %d", rec.Code, rec.Body.String(), triggered.Load(), tt.wantCode, wantTriggers)
			}
		})
	}
}
