package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Prefix is the etcd key prefix of token records: Prefix+ID.
const Prefix = "/bosun/tokens/"

// DefaultTTL is a token's lifetime when the request gives none (kubeadm's).
const DefaultTTL = 24 * time.Hour

// Lengths of a token's parts.
const (
	IDLength     = 6
	SecretLength = 16
)

// Unlimited is the UsagesLeft of a token without a limit on its uses.
const Unlimited = -1

// sentinel is an error class of this package that also matches a class of
// package api (errors.Is).
type sentinel struct {
	msg   string
	class error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.class }

// Sentinel errors; every error of Check, Use and Delete wraps one of them
// and names the token's ID.
var (
	// ErrMalformed: not "ID.SECRET" of [a-z0-9]{6}.[a-z0-9]{16}; matches
	// api.ErrInvalid.
	ErrMalformed error = &sentinel{"malformed", api.ErrInvalid}
	// ErrUnknown: no token with that ID (deleted, cleaned up after
	// expiry, or never created); matches api.ErrNotFound.
	ErrUnknown error = &sentinel{"unknown (deleted or never created)", api.ErrNotFound}
	// ErrSecretMismatch: the ID exists but the secret is wrong.
	ErrSecretMismatch = errors.New("secret does not match")
	// ErrExpired: the token's expiry has passed.
	ErrExpired = errors.New("expired")
	// ErrUsedUp: the token has no uses left.
	ErrUsedUp = errors.New("has no usages left")
)

// record is the stored form of a token: never its secret.
type record struct {
	SecretSHA256 string    `json:"secretSHA256"`
	Description  string    `json:"description,omitempty"`
	Created      time.Time `json:"created"`
	Expires      time.Time `json:"expires,omitzero"`
	UsagesLeft   int       `json:"usagesLeft"`
	// Kind is api.TokenKindNode or api.TokenKindServer; "" (a record
	// made before kinds existed) is a node token.
	Kind string `json:"kind,omitempty"`
}

func (r record) token(id string) api.BootstrapToken {
	kind := r.Kind
	if kind == "" {
		kind = api.TokenKindNode
	}
	return api.BootstrapToken{ID: id, Description: r.Description, Created: r.Created, Expires: r.Expires, UsagesLeft: r.UsagesLeft, Kind: kind}
}

// Store keeps bootstrap tokens in etcd. It holds no state of its own:
// several Stores (several servers) on one etcd agree. Create it with New.
type Store struct {
	cli   *clientv3.Client
	clock clock.PassiveClock
}

// New returns a Store on cli; clk tells creation and expiry times (nil:
// the real clock).
func New(cli *clientv3.Client, clk clock.PassiveClock) *Store {
	defaults.Clock(&clk)
	return &Store{cli: cli, clock: clk}
}

// Parse splits token into its ID and secret. The error wraps ErrMalformed
// and never repeats the token.
func Parse(token string) (id, secret string, err error) {
	id, secret, ok := strings.Cut(token, ".")
	if !ok || !valid(id, IDLength) || !valid(secret, SecretLength) {
		return "", "", fmt.Errorf("bootstrap token: %w: want ID.SECRET, %d and %d characters of [a-z0-9]", ErrMalformed, IDLength, SecretLength)
	}
	return id, secret, nil
}

// ValidID reports whether id has the form of a token ID.
func ValidID(id string) bool { return valid(id, IDLength) }

func valid(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomString returns n characters of alphabet from crypto/rand, without
// modulo bias (bytes of 252 and more are drawn again).
func randomString(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("tokens: read random bytes: %w", err)
		}
		for _, b := range buf {
			if b < 252 && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Create makes a token for req: TTL 0 means DefaultTTL, a negative TTL
// never expires; Usages 0 means no limit (UsagesLeft -1), a negative one
// is an error wrapping api.ErrInvalid; Kind "" means api.TokenKindNode,
// and a kind other than node or server is an error wrapping
// api.ErrInvalid. It returns the full token, which is not stored and
// cannot be read again, and its description.
func (s *Store) Create(ctx context.Context, req api.TokenRequest) (string, api.BootstrapToken, error) {
	if req.Usages < 0 {
		return "", api.BootstrapToken{}, fmt.Errorf("tokens: create: %w: usages %d: want 0 (no limit) or more", api.ErrInvalid, req.Usages)
	}
	kind := req.Kind
	switch kind {
	case "":
		kind = api.TokenKindNode
	case api.TokenKindNode, api.TokenKindServer:
	default:
		return "", api.BootstrapToken{}, fmt.Errorf("tokens: create: %w: kind %q: want %q or %q", api.ErrInvalid, req.Kind, api.TokenKindNode, api.TokenKindServer)
	}
	now := s.clock.Now().UTC().Truncate(time.Second)
	rec := record{Description: req.Description, Created: now, UsagesLeft: req.Usages, Kind: kind}
	if req.Usages == 0 {
		rec.UsagesLeft = Unlimited
	}
	switch {
	case req.TTL == 0:
		rec.Expires = now.Add(DefaultTTL)
	case req.TTL > 0:
		rec.Expires = now.Add(req.TTL)
	}
	// An ID taken already (1 in 2 billion) is drawn again.
	for range 5 {
		id, err := randomString(IDLength)
		if err != nil {
			return "", api.BootstrapToken{}, err
		}
		secret, err := randomString(SecretLength)
		if err != nil {
			return "", api.BootstrapToken{}, err
		}
		rec.SecretSHA256 = hex.EncodeToString(hashSecret(secret))
		val, err := json.Marshal(rec)
		if err != nil {
			return "", api.BootstrapToken{}, fmt.Errorf("tokens: encode token %s: %w", id, err)
		}
		key := Prefix + id
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(val))).
			Commit()
		if err != nil {
			return "", api.BootstrapToken{}, fmt.Errorf("tokens: store token %s: %w", id, err)
		}
		if resp.Succeeded {
			return id + "." + secret, rec.token(id), nil
		}
	}
	return "", api.BootstrapToken{}, fmt.Errorf("tokens: create: %w: every random ID drawn was taken", api.ErrConflict)
}

// List returns every token, expired ones included (their Expires is in
// the past), oldest first.
func (s *Store) List(ctx context.Context) ([]api.BootstrapToken, error) {
	resp, err := s.cli.Get(ctx, Prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("tokens: list: %w", err)
	}
	out := make([]api.BootstrapToken, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		id := strings.TrimPrefix(string(kv.Key), Prefix)
		var rec record
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, fmt.Errorf("tokens: decode token %s: %w", id, err)
		}
		out = append(out, rec.token(id))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Delete removes token id. The error wraps ErrUnknown (and so
// api.ErrNotFound) when there is none, ErrMalformed for an ID of the wrong
// form.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("bootstrap token ID %q: %w: want %d characters of [a-z0-9]", id, ErrMalformed, IDLength)
	}
	resp, err := s.cli.Delete(ctx, Prefix+id)
	if err != nil {
		return fmt.Errorf("tokens: delete token %s: %w", id, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("bootstrap token %s: %w", id, ErrUnknown)
	}
	return nil
}

// Check verifies token without taking a use: its form, its secret (in
// constant time), its expiry and its uses left. It returns the token's
// description; the error wraps one of the package's sentinels and names
// the ID.
func (s *Store) Check(ctx context.Context, token string) (api.BootstrapToken, error) {
	id, rec, _, err := s.check(ctx, token)
	if err != nil {
		return api.BootstrapToken{}, err
	}
	return rec.token(id), nil
}

// Verify checks token as Check does except its uses left: a used-up
// token whose secret matches and which has not expired passes. It is for
// completing a join the token was used for already (a control-plane join
// retried after a crash), never for a new one.
func (s *Store) Verify(ctx context.Context, token string) (api.BootstrapToken, error) {
	id, rec, _, err := s.read(ctx, token)
	if err != nil {
		return api.BootstrapToken{}, err
	}
	return rec.token(id), nil
}

// Use verifies token as Check does and takes one of its uses (none for a
// token without limit), with a compare-and-swap retried on conflict: of
// joins racing for the last use, exactly one succeeds and the others get
// ErrUsedUp. It returns the token as it is after the use.
func (s *Store) Use(ctx context.Context, token string) (api.BootstrapToken, error) {
	id, rec, rev, err := s.check(ctx, token)
	for err == nil {
		if rec.UsagesLeft == Unlimited {
			return rec.token(id), nil
		}
		rec.UsagesLeft--
		val, merr := json.Marshal(rec)
		if merr != nil {
			return api.BootstrapToken{}, fmt.Errorf("tokens: encode token %s: %w", id, merr)
		}
		key := Prefix + id
		resp, terr := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(val))).
			Commit()
		if terr != nil {
			return api.BootstrapToken{}, fmt.Errorf("tokens: use token %s: %w", id, terr)
		}
		if resp.Succeeded {
			return rec.token(id), nil
		}
		// Another use (or a delete) came first: read it again and decide
		// again.
		id, rec, rev, err = s.check(ctx, token)
	}
	return api.BootstrapToken{}, err
}

// check reads and verifies token; it returns its ID, record and the
// record's mod revision.
func (s *Store) check(ctx context.Context, token string) (string, record, int64, error) {
	id, rec, rev, err := s.read(ctx, token)
	if err != nil {
		return "", record{}, 0, err
	}
	if rec.UsagesLeft == 0 {
		return "", record{}, 0, fmt.Errorf("bootstrap token %s: %w", id, ErrUsedUp)
	}
	return id, rec, rev, nil
}

// read reads token and checks its secret and expiry; it returns its ID,
// record and the record's mod revision.
func (s *Store) read(ctx context.Context, token string) (string, record, int64, error) {
	id, secret, err := Parse(token)
	if err != nil {
		return "", record{}, 0, err
	}
	resp, err := s.cli.Get(ctx, Prefix+id)
	if err != nil {
		return "", record{}, 0, fmt.Errorf("tokens: read token %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return "", record{}, 0, fmt.Errorf("bootstrap token %s: %w", id, ErrUnknown)
	}
	var rec record
	if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
		return "", record{}, 0, fmt.Errorf("tokens: decode token %s: %w", id, err)
	}
	want, err := hex.DecodeString(rec.SecretSHA256)
	if err != nil || len(want) != sha256.Size {
		return "", record{}, 0, fmt.Errorf("tokens: token %s: stored secret hash is not a SHA-256", id)
	}
	if subtle.ConstantTimeCompare(hashSecret(secret), want) != 1 {
		return "", record{}, 0, fmt.Errorf("bootstrap token %s: %w", id, ErrSecretMismatch)
	}
	if !rec.Expires.IsZero() && !s.clock.Now().Before(rec.Expires) {
		return "", record{}, 0, fmt.Errorf("bootstrap token %s: %w at %s", id, ErrExpired, rec.Expires.UTC().Format(time.RFC3339))
	}
	return id, rec, resp.Kvs[0].ModRevision, nil
}

// DeleteExpired deletes the tokens that expired more than retain ago and
// returns their IDs. Each delete is conditional on the record being the
// one read.
func (s *Store) DeleteExpired(ctx context.Context, retain time.Duration) ([]string, error) {
	resp, err := s.cli.Get(ctx, Prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("tokens: list for cleanup: %w", err)
	}
	cutoff := s.clock.Now().Add(-retain)
	var deleted []string
	for _, kv := range resp.Kvs {
		id := strings.TrimPrefix(string(kv.Key), Prefix)
		var rec record
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return deleted, fmt.Errorf("tokens: decode token %s: %w", id, err)
		}
		if rec.Expires.IsZero() || rec.Expires.After(cutoff) {
			continue
		}
		tr, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(string(kv.Key))).
			Commit()
		if err != nil {
			return deleted, fmt.Errorf("tokens: delete expired token %s: %w", id, err)
		}
		if tr.Succeeded {
			deleted = append(deleted, id)
		}
	}
	return deleted, nil
}

// Run calls DeleteExpired(ctx, retain) every interval until ctx ends, then
// returns nil. A failed cleanup is retried at the next interval; onError,
// when not nil, hears of it.
func (s *Store) Run(ctx context.Context, interval, retain time.Duration, onError func(error)) error {
	defaults.Positive(&interval, time.Minute)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := s.DeleteExpired(ctx, retain); err != nil && ctx.Err() == nil && onError != nil {
			onError(err)
		}
	}
}
