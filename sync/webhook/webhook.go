package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// Path is where the handler is meant to be mounted.
const Path = "/hooks/git"

// MaxBodyBytes is the largest request body accepted; larger ones get 413.
const MaxBodyBytes = 1 << 20

// Handler returns an http.Handler for POST /hooks/git (mount it at Path) that
// calls trigger on a valid push notification and answers 202 Accepted. trigger
// must not block: it should only signal a poller to fetch now.
//
// With a non-empty secret, the request must carry either a GitHub or Gitea
// "X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>" (Gitea's
// "X-Gitea-Signature: <hex>" is accepted too) or a GitLab "X-Gitlab-Token:
// <secret>"; both are compared in constant time. A wrong or missing signature
// gets 401 and no trigger. With an empty secret every POST is accepted.
//
// Other answers: non-POST 405 (with "Allow: POST"), a body above MaxBodyBytes
// 413, a ping (X-GitHub-Event or X-Gitea-Event "ping") 200 without trigger, and
// events other than pushes (for example "issues", or GitLab's "Note Hook") 200
// without trigger. Requests that name no event (a plain curl) count as pushes.
// Each request is logged on logger (nil discards).
func Handler(secret string, trigger func(), logger *slog.Logger) http.Handler {
	defaults.Logger(&logger)
	return &handler{secret: []byte(secret), trigger: trigger, log: logger}
}

type handler struct {
	secret  []byte
	trigger func()
	log     *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event := eventName(r.Header)
	reply := func(code int, msg string, attrs ...any) {
		level := slog.LevelInfo
		if code >= 400 {
			level = slog.LevelWarn
		}
		attrs = append([]any{"method", r.Method, "remote", r.RemoteAddr, "event", event, "status", code}, attrs...)
		h.log.Log(r.Context(), level, "git webhook: "+msg, attrs...)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		io.WriteString(w, msg+"\n")
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(http.StatusMethodNotAllowed, "only POST is allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			reply(http.StatusRequestEntityTooLarge, "request body is larger than 1 MiB")
			return
		}
		reply(http.StatusBadRequest, "cannot read request body", "err", err)
		return
	}
	if len(h.secret) > 0 {
		if ok, how := h.authenticate(r.Header, body); !ok {
			reply(http.StatusUnauthorized, "signature or token missing or wrong; check the webhook secret", "check", how)
			return
		}
	}
	switch {
	case event == "ping":
		reply(http.StatusOK, "pong")
	case isPush(event):
		h.trigger()
		reply(http.StatusAccepted, "sync triggered")
	default:
		reply(http.StatusOK, "event ignored: only pushes trigger a sync")
	}
}

// authenticate checks the body signature or token. how names the header used,
// for the log.
func (h *handler) authenticate(hdr http.Header, body []byte) (ok bool, how string) {
	if sig := hdr.Get("X-Hub-Signature-256"); sig != "" {
		hexSig, found := strings.CutPrefix(sig, "sha256=")
		return found && h.validMAC(hexSig, body), "X-Hub-Signature-256"
	}
	if sig := hdr.Get("X-Gitea-Signature"); sig != "" {
		return h.validMAC(sig, body), "X-Gitea-Signature"
	}
	if tok := hdr.Get("X-Gitlab-Token"); tok != "" {
		return subtle.ConstantTimeCompare([]byte(tok), h.secret) == 1, "X-Gitlab-Token"
	}
	return false, "none"
}

func (h *handler) validMAC(hexSig string, body []byte) bool {
	got, err := hex.DecodeString(strings.TrimSpace(hexSig))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// eventName returns the forge's event name in lower case ("" when none is sent).
func eventName(hdr http.Header) string {
	for _, k := range []string{"X-GitHub-Event", "X-Gitea-Event", "X-Gogs-Event", "X-Gitlab-Event"} {
		if v := hdr.Get(k); v != "" {
			return strings.ToLower(strings.TrimSpace(v))
		}
	}
	return ""
}

// isPush reports events that may move a branch.
func isPush(event string) bool {
	switch event {
	case "", "push", "push hook":
		return true
	}
	return false
}
