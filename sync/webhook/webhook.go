package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// Path is where the handler is meant to be mounted.
const Path = "/hooks/git"

// MaxBodyBytes is the largest request body accepted; larger ones get 413.
const MaxBodyBytes = 1 << 20

// DefaultRate and DefaultBurst are the webhook's rate limit when Config
// leaves it zero: on average two requests a second, twenty at once. A forge
// sends one request per event; a fetch already pending absorbs the rest.
const (
	DefaultRate  rate.Limit = 2
	DefaultBurst            = 20
)

// Config configures New.
type Config struct {
	// Secret, when not empty, must sign every request (see New). An empty
	// secret accepts every POST: allowed only on loopback listeners (see
	// CheckListener).
	Secret string
	// Trigger is called on a valid push notification. It must not block:
	// it should only signal a poller to fetch now.
	Trigger func()
	// Rate is how many requests a second the endpoint accepts on average
	// (a token bucket filled at Rate, holding Burst); 0 means DefaultRate,
	// rate.Inf no limit.
	Rate rate.Limit
	// Burst is how many requests may arrive at once; 0 means DefaultBurst.
	Burst int
	// Logger records each request; nil discards.
	Logger *slog.Logger
	// Now is the rate limiter's clock; nil means time.Now.
	Now func() time.Time
}

// Handler returns New(Config{Secret: secret, Trigger: trigger, Logger:
// logger}): the handler with the default rate limit.
func Handler(secret string, trigger func(), logger *slog.Logger) http.Handler {
	return New(Config{Secret: secret, Trigger: trigger, Logger: logger})
}

// New returns an http.Handler for POST /hooks/git (mount it at Path) that
// calls cfg.Trigger on a valid push notification and answers 202 Accepted.
//
// Requests beyond the rate limit get 429 Too Many Requests with
// Retry-After (whole seconds until the bucket holds a token again), before
// their body is read or their signature checked; they are logged at debug
// level only, so that a flood does not flood the log too.
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
func New(cfg Config) http.Handler {
	defaults.Logger(&cfg.Logger)
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &handler{
		secret:  []byte(cfg.Secret),
		trigger: cfg.Trigger,
		log:     cfg.Logger,
		limit:   rate.NewLimiter(cfg.Rate, cfg.Burst),
		now:     cfg.Now,
	}
}

type handler struct {
	secret  []byte
	trigger func()
	log     *slog.Logger
	limit   *rate.Limiter
	now     func() time.Time
}

// wait reports how long a request arriving now must wait for a token of
// the bucket: 0 when it may go on (the token is then taken).
func (h *handler) wait() time.Duration {
	now := h.now()
	r := h.limit.ReserveN(now, 1)
	if !r.OK() {
		return time.Minute // a bucket that can never hold a token
	}
	d := r.DelayFrom(now)
	if d > 0 {
		r.CancelAt(now)
	}
	return d
}

// retryAfter is d in whole seconds, rounded up: Retry-After's unit.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event := eventName(r.Header)
	reply := func(code int, msg string, attrs ...any) {
		level := slog.LevelInfo
		switch {
		case code == http.StatusTooManyRequests:
			level = slog.LevelDebug
		case code >= 400:
			level = slog.LevelWarn
		}
		attrs = append([]any{"method", r.Method, "remote", r.RemoteAddr, "event", event, "status", code}, attrs...)
		h.log.Log(r.Context(), level, "git webhook: "+msg, attrs...)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		io.WriteString(w, msg+"\n")
	}

	if d := h.wait(); d > 0 {
		w.Header().Set("Retry-After", retryAfter(d))
		reply(http.StatusTooManyRequests, "too many webhook requests; retry later", "retryAfter", d)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(http.StatusMethodNotAllowed, "only POST is allowed")
		return
	}
	if len(h.secret) == 0 && !arrivedOnLoopback(r) {
		reply(http.StatusForbidden, "this webhook has no secret, so it takes pushes only on a loopback address; "+
			"start bosun server with --webhook-secret or --webhook-secret-file (and set the same secret at the forge) to take them from other machines")
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

// arrivedOnLoopback reports whether r came in on a loopback address of
// this machine (the connection's local address, not what the client
// claims), or was not served from a listener at all (a handler called
// directly).
func arrivedOnLoopback(r *http.Request) bool {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return true
	}
	ap, err := netip.ParseAddrPort(addr.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
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
