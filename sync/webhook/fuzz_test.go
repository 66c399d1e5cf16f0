package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/time/rate"
)

// Signature headers FuzzWebhook chooses from (sigKind modulo their count).
var fuzzSigHeaders = []string{"", "X-Hub-Signature-256", "X-Gitea-Signature", "X-Gitlab-Token"}

// FuzzWebhook sends the handler arbitrary push notifications: any body,
// event name, signature header and value, signed right or not, with or
// without a secret. It must never panic, trigger exactly on 202, answer
// one of its documented codes, and never accept a request whose signature
// or token is not the right one for the secret and the body.
func FuzzWebhook(f *testing.F) {
	const (
		github = `{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5","repository":{"id":1296269,"full_name":"octocat/deploy","clone_url":"https://github.com/octocat/deploy.git"},"pusher":{"name":"octocat"},"commits":[{"id":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5","message":"5 replicas","added":[],"modified":["apps/web.yaml"]}]}`
		gitlab = `{"object_kind":"push","event_name":"push","before":"95790bf891e76fee5e1747ab589903a6a1f80f22","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","ref":"refs/heads/main","checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","project":{"path_with_namespace":"team/deploy"},"total_commits_count":1}`
		gitea  = `{"ref":"refs/heads/main","before":"28e1879d029cb852e4844d9c718537df08844e03","after":"bffeb74224043ba2feb48d137756c8a9331c449a","compare_url":"https://gitea.example.com/team/deploy/compare/28e1879d...bffeb742","commits":[{"id":"bffeb74224043ba2feb48d137756c8a9331c449a","message":"bump"}],"repository":{"full_name":"team/deploy"},"pusher":{"login":"alice"}}`
		ping   = `{"zen":"Keep it logically awesome.","hook_id":12345678}`
	)
	seeds := []struct {
		secret  string
		sigKind uint8
		sigVal  string
		signed  bool
		event   string
		body    string
	}{
		{"s3cret", 1, "", true, "push", github},
		{"s3cret", 1, "sha256=00", false, "push", github},
		{"s3cret", 1, "sha256=zz", false, "ping", ping},
		{"s3cret", 1, "", true, "ping", ping},
		{"s3cret", 2, "", true, "push", gitea},
		{"s3cret", 2, " 0a ", false, "Push", gitea},
		{"s3cret", 3, "s3cret", false, "Push Hook", gitlab},
		{"s3cret", 3, "s3cre", false, "Push Hook", gitlab},
		{"s3cret", 3, "", true, "Tag Push Hook", gitlab},
		{"s3cret", 0, "", false, "", ""},
		{"", 0, "", false, "", ""},
		{"", 0, "", false, "issues", `{"action":"opened"}`},
		{"", 1, "garbage", false, " PUSH ", "not json at all \x00\xff"},
		{"k", 1, "sha256=", false, "push", "{"},
	}
	for _, s := range seeds {
		f.Add(s.secret, s.sigKind, s.sigVal, s.signed, s.event, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, secret string, sigKind uint8, sigVal string, signed bool, event string, body []byte) {
		header := fuzzSigHeaders[int(sigKind)%len(fuzzSigHeaders)]
		mac := sign(secret, string(body))
		if signed {
			switch header {
			case "X-Hub-Signature-256":
				sigVal = "sha256=" + mac
			case "X-Gitea-Signature":
				sigVal = mac
			case "X-Gitlab-Token":
				sigVal = secret
			}
		}
		var triggers int
		h := New(Config{Secret: secret, Trigger: func() { triggers++ }, Rate: rate.Inf})
		req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
		if event != "" {
			req.Header.Set("X-GitHub-Event", event)
		}
		if header != "" && sigVal != "" {
			req.Header.Set(header, sigVal)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusOK, http.StatusAccepted, http.StatusUnauthorized:
		default:
			t.Fatalf("status %d (%s): not one the handler documents for a POST under 1 MiB", rec.Code, rec.Body.String())
		}
		if (triggers == 1) != (rec.Code == http.StatusAccepted) || triggers > 1 {
			t.Fatalf("status %d with %d triggers: a trigger must come with 202 and only then", rec.Code, triggers)
		}
		// What the request proves, judged from how it was built rather than
		// by the handler's own code: a valid signature is the body's HMAC
		// made here (or its hex in another case or with spaces around), a
		// valid token the secret itself.
		valid := secret == ""
		if secret != "" && header != "" && sigVal != "" {
			switch header {
			case "X-Hub-Signature-256":
				v, ok := strings.CutPrefix(sigVal, "sha256=")
				valid = ok && strings.EqualFold(strings.TrimSpace(v), mac)
			case "X-Gitea-Signature":
				valid = strings.EqualFold(strings.TrimSpace(sigVal), mac)
			case "X-Gitlab-Token":
				valid = sigVal == secret
			}
		}
		if valid != (rec.Code != http.StatusUnauthorized) {
			t.Fatalf("secret %q, %s: %q, body %q: status %d, want valid=%v", secret, header, sigVal, body, rec.Code, valid)
		}
		if !valid {
			return
		}
		e := strings.ToLower(strings.TrimSpace(event))
		want := http.StatusOK
		if e == "" || e == "push" || e == "push hook" {
			want = http.StatusAccepted
		}
		if rec.Code != want {
			t.Fatalf("event %q: status %d, want %d", event, rec.Code, want)
		}
	})
}
