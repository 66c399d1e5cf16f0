package client

import (
	"bytes"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// testList returns a serverList of names (as http://NAME) whose log goes to
// the returned buffer and whose clock stands at t0.
func testList(t *testing.T, names []string, t0 time.Time) (*serverList, *bytes.Buffer) {
	t.Helper()
	var urls []*url.URL
	for _, n := range names {
		u, err := parseServer("http://" + n)
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, u)
	}
	var log bytes.Buffer
	l := newServerList(urls, slog.New(slog.NewTextHandler(&log, nil)))
	l.now = func() time.Time { return t0 }
	return l, &log
}

func urlsOf(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, "http://"+n)
	}
	return out
}

func TestServerListNext(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		servers []string
		cur     int
		down    map[string]time.Duration // server -> down until t0 + this
		failed  string
		tried   []string
		want    string // "" = none left
		wantLog bool
	}{
		{name: "moves to the next", servers: []string{"a", "b", "c"}, failed: "a", tried: []string{"a"}, want: "b", wantLog: true},
		{name: "wraps around", servers: []string{"a", "b", "c"}, cur: 2, failed: "c", tried: []string{"c"}, want: "a", wantLog: true},
		{name: "passes over a down server", servers: []string{"a", "b", "c"}, down: map[string]time.Duration{"b": 3 * time.Second},
			failed: "a", tried: []string{"a"}, want: "c", wantLog: true},
		{name: "a down mark expires", servers: []string{"a", "b", "c"}, down: map[string]time.Duration{"b": -time.Second},
			failed: "a", tried: []string{"a"}, want: "b", wantLog: true},
		{name: "every other one down: the first not tried", servers: []string{"a", "b", "c"},
			down: map[string]time.Duration{"b": time.Second, "c": time.Second}, failed: "a", tried: []string{"a"}, want: "b", wantLog: true},
		{name: "another request moved already", servers: []string{"a", "b", "c"}, cur: 1, failed: "a", tried: []string{"a"}, want: "b"},
		{name: "the current one was tried by this request", servers: []string{"a", "b", "c"}, cur: 2, failed: "c", tried: []string{"b", "c"}, want: "a", wantLog: true},
		{name: "every server tried", servers: []string{"a", "b"}, cur: 1, failed: "b", tried: []string{"a", "b"}},
		{name: "a single server", servers: []string{"a"}, failed: "a", tried: []string{"a"}},
		{name: "the failed server is no longer listed", servers: []string{"b", "c"}, failed: "a", tried: []string{"a"}, want: "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, log := testList(t, tc.servers, t0)
			l.cur = tc.cur
			for s, d := range tc.down {
				l.down["http://"+s] = t0.Add(d)
			}
			failed, _ := parseServer("http://" + tc.failed)
			got, ok := l.next(failed, urlsOf(tc.tried...), errors.New("connection refused"))
			if tc.want == "" {
				if ok {
					t.Fatalf("next = %s, want none", got)
				}
			} else if !ok || got.String() != "http://"+tc.want {
				t.Fatalf("next = %v, %v; want http://%s", got, ok, tc.want)
			}
			if ok && l.current() != got {
				t.Errorf("current = %s, want %s", l.current(), got)
			}
			if until := l.down["http://"+tc.failed]; !until.Equal(t0.Add(DownFor)) {
				t.Errorf("failed server down until %v, want %v", until, t0.Add(DownFor))
			}
			lines := strings.Count(log.String(), "unreachable, using")
			if want := map[bool]int{false: 0, true: 1}[tc.wantLog]; lines != want {
				t.Errorf("logged %d switches, want %d:\n%s", lines, want, log)
			}
		})
	}
}

func TestServerListSet(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		cur      int
		set      []string
		wantCur  string
		wantDown []string
		wantLog  bool
	}{
		{name: "the current server stays", cur: 1, set: []string{"c", "b", "d"}, wantCur: "b", wantDown: []string{"c"}},
		{name: "an unlisted current server gives way to the first", cur: 0, set: []string{"b", "c"}, wantCur: "b", wantDown: []string{"c"}, wantLog: true},
		{name: "an unlisted current server gives way to the first not down", cur: 0, set: []string{"c", "d"}, wantCur: "d", wantDown: []string{"c"}, wantLog: true},
		{name: "every listed server down: the first", cur: 0, set: []string{"c"}, wantCur: "c", wantDown: []string{"c"}, wantLog: true},
		{name: "down marks of unlisted servers go", cur: 1, set: []string{"b"}, wantCur: "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, log := testList(t, []string{"a", "b", "c"}, t0)
			l.cur = tc.cur
			l.down["http://c"] = t0.Add(time.Second)
			var urls []*url.URL
			for _, s := range tc.set {
				u, _ := parseServer("http://" + s)
				urls = append(urls, u)
			}
			l.set(urls)
			if got := l.current().String(); got != "http://"+tc.wantCur {
				t.Errorf("current = %s, want http://%s", got, tc.wantCur)
			}
			if got := l.all(); !slices.Equal(got, urlsOf(tc.set...)) {
				t.Errorf("all = %v, want %v", got, urlsOf(tc.set...))
			}
			var down []string
			for s := range l.down {
				down = append(down, s)
			}
			if !slices.Equal(down, urlsOf(tc.wantDown...)) {
				t.Errorf("down = %v, want %v", down, urlsOf(tc.wantDown...))
			}
			if logged := strings.Contains(log.String(), "no longer listed"); logged != tc.wantLog {
				t.Errorf("logged the change: %v, want %v:\n%s", logged, tc.wantLog, log)
			}
		})
	}
}
