package tokens_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/tokens"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func newStore(t *testing.T) (*tokens.Store, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	return tokens.New(storetest.Start(t).Client(), clk), clk
}

func mustCreate(t *testing.T, s *tokens.Store, req api.TokenRequest) (string, api.BootstrapToken) {
	t.Helper()
	tok, info, err := s.Create(t.Context(), req)
	if err != nil {
		t.Fatalf("Create(%+v): %v", req, err)
	}
	return tok, info
}

func TestCreate(t *testing.T) {
	s, _ := newStore(t)
	tests := []struct {
		name        string
		req         api.TokenRequest
		wantExpires time.Time
		wantUsages  int
	}{
		{"defaults", api.TokenRequest{}, t0.Add(24 * time.Hour), -1},
		{"ttl and usages", api.TokenRequest{TTL: time.Hour, Usages: 3, Description: "two workers"}, t0.Add(time.Hour), 3},
		{"never expires", api.TokenRequest{TTL: -1}, time.Time{}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, info := mustCreate(t, s, tt.req)
			id, _, err := tokens.Parse(tok)
			if err != nil {
				t.Fatalf("Create returned %q: %v", tok, err)
			}
			if info.ID != id || !info.Created.Equal(t0) || !info.Expires.Equal(tt.wantExpires) ||
				info.UsagesLeft != tt.wantUsages || info.Description != tt.req.Description {
				t.Errorf("info = %+v, want ID %s created %s expires %s usages %d", info, id, t0, tt.wantExpires, tt.wantUsages)
			}
		})
	}
	if _, _, err := s.Create(t.Context(), api.TokenRequest{Usages: -2}); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("Create with usages -2 = %v, want api.ErrInvalid", err)
	}
}

// TestSecretNotStored reads etcd directly: the secret appears nowhere.
func TestSecretNotStored(t *testing.T) {
	st := storetest.Start(t)
	s := tokens.New(st.Client(), nil)
	tok, info := mustCreate(t, s, api.TokenRequest{Description: "x"})
	_, secret, _ := tokens.Parse(tok)
	resp, err := st.Client().Get(t.Context(), tokens.Prefix+info.ID)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get record: %v, %d keys", err, len(resp.Kvs))
	}
	if strings.Contains(string(resp.Kvs[0].Value), secret) {
		t.Errorf("the record holds the secret: %s", resp.Kvs[0].Value)
	}
}

func TestUseErrors(t *testing.T) {
	s, clk := newStore(t)
	good, _ := mustCreate(t, s, api.TokenRequest{TTL: time.Hour})
	id, _, _ := tokens.Parse(good)
	once, _ := mustCreate(t, s, api.TokenRequest{Usages: 1})
	if _, err := s.Use(t.Context(), once); err != nil {
		t.Fatalf("first use: %v", err)
	}
	deleted, delInfo := mustCreate(t, s, api.TokenRequest{})
	if err := s.Delete(t.Context(), delInfo.ID); err != nil {
		t.Fatal(err)
	}
	wrongSecret := id + ".0123456789abcdef"

	tests := []struct {
		name    string
		token   string
		advance time.Duration
		want    error
		wantMsg string
	}{
		{"good", good, 0, nil, ""},
		{"malformed", "abc.def", 0, tokens.ErrMalformed, "malformed"},
		{"upper case", strings.ToUpper(good), 0, tokens.ErrMalformed, "malformed"},
		{"unknown", "zzzzzz.0123456789abcdef", 0, tokens.ErrUnknown, "bootstrap token zzzzzz: unknown (deleted or never created)"},
		{"deleted", deleted, 0, tokens.ErrUnknown, "bootstrap token " + delInfo.ID + ": unknown"},
		{"wrong secret", wrongSecret, 0, tokens.ErrSecretMismatch, "bootstrap token " + id + ": secret does not match"},
		{"used up", once, 0, tokens.ErrUsedUp, "has no usages left"},
		{"expired", good, time.Hour, tokens.ErrExpired, "bootstrap token " + id + ": expired at 2026-12-07T11:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Step(tt.advance)
			for _, f := range []func() error{
				func() error { _, err := s.Check(t.Context(), tt.token); return err },
				func() error { _, err := s.Use(t.Context(), tt.token); return err },
			} {
				err := f()
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if err == nil {
					continue
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("message %q, want it to contain %q", err, tt.wantMsg)
				}
				if _, secret, perr := tokens.Parse(tt.token); perr == nil && strings.Contains(err.Error(), secret) {
					t.Errorf("message %q shows the secret", err)
				}
			}
		})
	}
	if _, err := s.Use(t.Context(), "zzzzzz.0123456789abcdef"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown token: %v, want it to match api.ErrNotFound", err)
	}
}

func TestUseCountsDown(t *testing.T) {
	s, _ := newStore(t)
	tok, _ := mustCreate(t, s, api.TokenRequest{Usages: 2})
	for _, want := range []int{1, 0} {
		info, err := s.Use(t.Context(), tok)
		if err != nil || info.UsagesLeft != want {
			t.Fatalf("Use = %+v, %v; want %d usages left", info, err, want)
		}
	}
	if _, err := s.Use(t.Context(), tok); !errors.Is(err, tokens.ErrUsedUp) {
		t.Fatalf("third use: %v, want ErrUsedUp", err)
	}
	list, err := s.List(t.Context())
	if err != nil || len(list) != 1 || list[0].UsagesLeft != 0 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	unlimited, _ := mustCreate(t, s, api.TokenRequest{})
	for range 3 {
		if info, err := s.Use(t.Context(), unlimited); err != nil || info.UsagesLeft != -1 {
			t.Fatalf("unlimited Use = %+v, %v", info, err)
		}
	}
}

// TestLastUseRace lets many goroutines race for a token's last uses:
// exactly as many succeed as there were uses.
func TestLastUseRace(t *testing.T) {
	s, _ := newStore(t)
	for _, uses := range []int{1, 3} {
		tok, _ := mustCreate(t, s, api.TokenRequest{Usages: uses})
		const racers = 12
		var wg sync.WaitGroup
		errs := make(chan error, racers)
		for range racers {
			wg.Go(func() {
				_, err := s.Use(t.Context(), tok)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, tokens.ErrUsedUp):
				t.Errorf("a losing use failed with %v, want ErrUsedUp", err)
			}
		}
		if ok != uses {
			t.Errorf("%d uses succeeded on a token with %d", ok, uses)
		}
	}
}

func TestListDeleteAndCleanup(t *testing.T) {
	s, clk := newStore(t)
	_, short := mustCreate(t, s, api.TokenRequest{TTL: time.Minute, Description: "short"})
	clk.Step(time.Second)
	_, long := mustCreate(t, s, api.TokenRequest{TTL: 48 * time.Hour})
	clk.Step(time.Second)
	_, never := mustCreate(t, s, api.TokenRequest{TTL: -1})

	clk.Step(2 * time.Minute) // short has expired: still listed
	list, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range list {
		ids = append(ids, b.ID)
	}
	if strings.Join(ids, ",") != strings.Join([]string{short.ID, long.ID, never.ID}, ",") {
		t.Fatalf("List IDs = %v, want oldest first", ids)
	}
	if !list[0].Expires.Before(clk.Now()) || list[0].Description != "short" {
		t.Errorf("expired token listed as %+v", list[0])
	}

	if got, err := s.DeleteExpired(t.Context(), time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("DeleteExpired within retention = %v, %v", got, err)
	}
	clk.Step(time.Hour)
	if got, err := s.DeleteExpired(t.Context(), time.Hour); err != nil || len(got) != 1 || got[0] != short.ID {
		t.Fatalf("DeleteExpired = %v, %v; want [%s]", got, err, short.ID)
	}

	if err := s.Delete(t.Context(), long.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{long.ID, "zzzzzz"} {
		if err := s.Delete(t.Context(), id); !errors.Is(err, tokens.ErrUnknown) || !errors.Is(err, api.ErrNotFound) {
			t.Errorf("Delete(%s) again = %v, want ErrUnknown and api.ErrNotFound", id, err)
		}
	}
	if err := s.Delete(t.Context(), "../x"); !errors.Is(err, tokens.ErrMalformed) {
		t.Errorf("Delete of a bad ID = %v, want ErrMalformed", err)
	}
	list, _ = s.List(t.Context())
	if len(list) != 1 || list[0].ID != never.ID {
		t.Errorf("left = %+v, want only %s", list, never.ID)
	}
}

// TestRun: the periodic cleanup deletes a token expired longer ago than
// the retention, keeps the others, and Run returns nil when ctx ends.
func TestRun(t *testing.T) {
	s, clk := newStore(t)
	_, old := mustCreate(t, s, api.TokenRequest{TTL: time.Minute})
	clk.Step(2 * time.Hour)
	_, fresh := mustCreate(t, s, api.TokenRequest{TTL: time.Minute})
	clk.Step(2 * time.Minute) // fresh expired too, within the retention
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, 10*time.Millisecond, time.Hour, func(err error) { t.Errorf("cleanup: %v", err) })
	}()
	testutil.Eventually(t, 10*time.Second, "the old token to be cleaned up", func() (bool, string) {
		list, err := s.List(t.Context())
		if err != nil {
			return false, err.Error()
		}
		var ids []string
		for _, b := range list {
			ids = append(ids, b.ID)
		}
		return len(ids) == 1 && ids[0] == fresh.ID, fmt.Sprintf("tokens %v, want only %s (not %s)", ids, fresh.ID, old.ID)
	})
	cancel()
	if err := testutil.Receive(t, done, 10*time.Second, "Run to return"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// TestKinds checks that a token's kind is kept and told by Create, Check,
// Use and List, that an unknown kind is refused, and that a record stored
// before kinds existed reads as a node token.
func TestKinds(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	cli := storetest.Start(t).Client()
	s := tokens.New(cli, clk)
	// A record as bosun stored it before tokens had kinds.
	const oldID = "old000"
	sum := sha256.Sum256([]byte("0123456789abcdef"))
	old := fmt.Sprintf(`{"secretSHA256":%q,"created":"2026-12-07T10:00:00Z","usagesLeft":-1}`, hex.EncodeToString(sum[:]))
	if _, err := cli.Put(t.Context(), tokens.Prefix+oldID, old); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		kind     string // requested
		token    string // an existing token instead of a new one
		wantKind string
	}{
		{name: "default", kind: "", wantKind: api.TokenKindNode},
		{name: "node", kind: api.TokenKindNode, wantKind: api.TokenKindNode},
		{name: "server", kind: api.TokenKindServer, wantKind: api.TokenKindServer},
		{name: "record without a kind", token: oldID + ".0123456789abcdef", wantKind: api.TokenKindNode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token
			if tok == "" {
				var info api.BootstrapToken
				tok, info = mustCreate(t, s, api.TokenRequest{Kind: tt.kind})
				if info.Kind != tt.wantKind {
					t.Errorf("Create: kind %q, want %q", info.Kind, tt.wantKind)
				}
			}
			id, _, _ := strings.Cut(tok, ".")
			if info, err := s.Check(t.Context(), tok); err != nil || info.Kind != tt.wantKind {
				t.Errorf("Check: kind %q, %v; want %q", info.Kind, err, tt.wantKind)
			}
			if info, err := s.Use(t.Context(), tok); err != nil || info.Kind != tt.wantKind {
				t.Errorf("Use: kind %q, %v; want %q", info.Kind, err, tt.wantKind)
			}
			list, err := s.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, l := range list {
				if l.ID == id {
					found = true
					if l.Kind != tt.wantKind {
						t.Errorf("List: kind %q, want %q", l.Kind, tt.wantKind)
					}
				}
			}
			if !found {
				t.Errorf("List does not hold %s", id)
			}
		})
	}
	if _, _, err := s.Create(t.Context(), api.TokenRequest{Kind: "admin"}); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), `"admin"`) {
		t.Errorf("Create with kind admin = %v, want api.ErrInvalid naming the kind", err)
	}
}

// TestVerify passes a used-up token whose secret matches and which has not
// expired, and nothing else.
func TestVerify(t *testing.T) {
	s, clk := newStore(t)
	usedUp, _ := mustCreate(t, s, api.TokenRequest{Usages: 1, TTL: time.Hour, Kind: api.TokenKindServer})
	if _, err := s.Use(t.Context(), usedUp); err != nil {
		t.Fatal(err)
	}
	id, _, _ := strings.Cut(usedUp, ".")
	tests := []struct {
		name    string
		token   string
		advance time.Duration
		want    error
	}{
		{"used up", usedUp, 0, nil},
		{"wrong secret", id + ".ffffffffffffffff", 0, tokens.ErrSecretMismatch},
		{"unknown", "zzzzzz.ffffffffffffffff", 0, tokens.ErrUnknown},
		{"expired", usedUp, 2 * time.Hour, tokens.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Step(tt.advance)
			info, err := s.Verify(t.Context(), tt.token)
			if !errors.Is(err, tt.want) || (tt.want == nil && (info.ID != id || info.UsagesLeft != 0 || info.Kind != api.TokenKindServer)) {
				t.Fatalf("Verify = %+v, %v; want %v", info, err, tt.want)
			}
		})
	}
	if _, err := s.Check(t.Context(), usedUp); !errors.Is(err, tokens.ErrUsedUp) && !errors.Is(err, tokens.ErrExpired) {
		t.Errorf("Check of the used-up token = %v, want it refused", err)
	}
}
