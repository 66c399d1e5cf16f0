package apiserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/store"
)

// fakeControlPlane hands out a CA key, or refuses with err.
type fakeControlPlane struct {
	key []byte
	err error
}

func (f fakeControlPlane) CAKeyPEM() ([]byte, error) { return f.key, f.err }

var testSettings = api.ClusterSettings{ClusterCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/16", NodePortRange: "30000-32767", Repo: "https://git.example.com/deploy.git", Branch: "main"}

// newControlPlaneEnv is a join environment whose API takes control-plane
// members with cp (none when nil).
func newControlPlaneEnv(t *testing.T, cp apiserver.ControlPlane) *joinEnv {
	t.Helper()
	j := &joinEnv{}
	j.joinEnvWith(t, func(cfg *apiserver.Config) { cfg.ControlPlane = cp })
	return j
}

// serverJoin posts a control-plane join request with token (none when "").
func (j *joinEnv) serverJoin(t *testing.T, token string, jr any) (int, []byte) {
	t.Helper()
	var header []string
	if token != "" {
		header = []string{"Authorization", "Bearer " + token}
	}
	return j.as(nobody).do("POST", api.PathServerJoin, jr, header...)
}

// TestServerJoin runs the control-plane join endpoint against a real
// embedded etcd: token checks, validation, a learner added, a retried join
// answered with the same member and no second use, and conflicts.
func TestServerJoin(t *testing.T) {
	j := newControlPlaneEnv(t, fakeControlPlane{key: []byte("the CA key")})
	cli := j.st.Client()
	first, err := store.ListMembers(t.Context(), cli)
	if err != nil || len(first) != 1 {
		t.Fatalf("members %v, %v; want the one embedded member", first, err)
	}
	running := first[0]
	server := j.token(t, api.TokenRequest{Kind: api.TokenKindServer, Usages: 3})
	node := j.token(t, api.TokenRequest{})
	good := api.ServerJoinRequest{Name: "cp-2", PeerURL: "https://127.0.0.1:1", ClientURL: "https://127.0.0.1:2"}
	other := api.ServerJoinRequest{Name: "cp-3", PeerURL: "https://127.0.0.1:3", ClientURL: "https://127.0.0.1:4"}
	var added string // the ID of cp-2 once added

	tests := []struct {
		name     string
		before   func(t *testing.T)
		token    string
		req      any
		wantCode int
		wantBody string
		check    func(t *testing.T, resp api.ServerJoinResponse)
	}{
		{name: "no token", req: good, wantCode: 401, wantBody: "bosun token create --control-plane"},
		{name: "malformed token", token: "nope", req: good, wantCode: 401, wantBody: "malformed"},
		{name: "wrong secret", token: server[:7] + strings.Repeat("x", 16), req: good, wantCode: 401, wantBody: "secret does not match"},
		{name: "node token", token: node, req: good, wantCode: 403, wantBody: "this is a node token; create one with bosun token create --control-plane"},
		{name: "bad name", token: server, req: api.ServerJoinRequest{Name: "CP_2", PeerURL: good.PeerURL, ClientURL: good.ClientURL}, wantCode: 400, wantBody: "member name"},
		{name: "plain-HTTP peer URL", token: server, req: api.ServerJoinRequest{Name: "cp-2", PeerURL: "http://127.0.0.1:1", ClientURL: good.ClientURL}, wantCode: 400, wantBody: "peer URL"},
		{name: "port 0", token: server, req: api.ServerJoinRequest{Name: "cp-2", PeerURL: "https://127.0.0.1:0", ClientURL: good.ClientURL}, wantCode: 400, wantBody: "the port must be fixed"},
		{name: "unknown field", token: server, req: `{"name":"cp-2","peer":"x"}`, wantCode: 400, wantBody: "peer"},
		{name: "settings not stored yet", token: server, req: good, wantCode: 503, wantBody: "settings are not stored yet"},
		{
			name:   "join",
			before: func(t *testing.T) { storeSettings(t, j) },
			token:  server, req: good, wantCode: 200,
			check: func(t *testing.T, resp api.ServerJoinResponse) {
				if string(resp.CAKey) != "the CA key" || string(resp.CACert) != string(j.ca.CACertPEM()) || resp.Cluster != testSettings {
					t.Errorf("CA key %q, CA cert %t, settings %+v; want the CA's and %+v", resp.CAKey, string(resp.CACert) == string(j.ca.CACertPEM()), resp.Cluster, testSettings)
				}
				wantInitial := running.Name + "=" + running.PeerURLs[0] + ",cp-2=https://127.0.0.1:1"
				if resp.InitialCluster != wantInitial {
					t.Errorf("initial cluster %q, want %q", resp.InitialCluster, wantInitial)
				}
				joiner := memberNamed(t, resp.Members, "cp-2")
				if !joiner.IsLearner || joiner.PeerURLs[0] != good.PeerURL {
					t.Errorf("joiner %+v: want a learner at %s", joiner, good.PeerURL)
				}
				added = joiner.ID
				checkUsagesLeft(t, j, server, 2)
			},
		},
		{
			name:  "retry after a crash",
			token: server, req: good, wantCode: 200,
			check: func(t *testing.T, resp api.ServerJoinResponse) {
				if got := memberNamed(t, resp.Members, "cp-2"); got.ID != added {
					t.Errorf("retry answered member %s, want the one added before, %s", got.ID, added)
				}
				if len(resp.Members) != 2 {
					t.Errorf("members %+v, want the running one and cp-2", resp.Members)
				}
				checkUsagesLeft(t, j, server, 2) // no second use
			},
		},
		{name: "another joiner while cp-2 has not started", token: server, req: other, wantCode: 409, wantBody: "never started"},
		{name: "the name of a running member", token: server, req: api.ServerJoinRequest{Name: running.Name, PeerURL: "https://127.0.0.1:5", ClientURL: good.ClientURL},
			wantCode: 409, wantBody: "remove it first with bosun member remove " + running.Name},
		{
			name: "the peer URL of a running member", token: server,
			req: api.ServerJoinRequest{Name: "cp-4", PeerURL: strings.Replace(running.PeerURLs[0], "http://", "https://", 1), ClientURL: good.ClientURL},
			before: func(t *testing.T) {
				// Make the running member's peer URL an https one.
				if _, err := cli.MemberUpdate(t.Context(), running.ID, []string{strings.Replace(running.PeerURLs[0], "http://", "https://", 1)}); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: 409, wantBody: "is running at peer URL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before(t)
			}
			code, body := j.serverJoin(t, tt.token, tt.req)
			if code != tt.wantCode || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("code %d, body %s; want %d with %q", code, body, tt.wantCode, tt.wantBody)
			}
			if tt.check != nil {
				var resp api.ServerJoinResponse
				if err := json.Unmarshal(body, &resp); err != nil {
					t.Fatal(err)
				}
				tt.check(t, resp)
			}
		})
	}
	// The node join still takes the server token (a server may run an agent).
	_, csr := newCSR(t, "node-x")
	code, body := j.join(t, server, "node-x", csr)
	if code != 200 {
		t.Errorf("node join with a server token: %d %s, want 200", code, body)
	}
}

// TestServerJoinUnavailable checks the 503s of a server that takes no
// control-plane members.
func TestServerJoinUnavailable(t *testing.T) {
	for _, tt := range []struct {
		name     string
		cp       apiserver.ControlPlane
		wantBody string
	}{
		{"no control plane", nil, "takes no control-plane members"},
		{"external etcd", fakeControlPlane{err: errors.New("this control plane runs on an external etcd: start the new server with the same --etcd-endpoints instead")}, "same --etcd-endpoints"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j := newControlPlaneEnv(t, tt.cp)
			storeSettings(t, j)
			server := j.token(t, api.TokenRequest{Kind: api.TokenKindServer})
			code, body := j.serverJoin(t, server, api.ServerJoinRequest{Name: "cp-2", PeerURL: "https://127.0.0.1:1", ClientURL: "https://127.0.0.1:2"})
			if code != 503 || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("join: %d %s; want 503 with %q", code, body, tt.wantBody)
			}
			// And no server token is made where it is of no use.
			code, body = j.as(admin).do("POST", api.PathTokens, api.TokenRequest{Kind: api.TokenKindServer})
			if code != 503 || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("token create --control-plane: %d %s; want 503 with %q", code, body, tt.wantBody)
			}
		})
	}
}

// TestServerTokenCreate checks that a server token's answer names its kind
// and the cluster's repository, and token list tells kinds apart.
func TestServerTokenCreate(t *testing.T) {
	j := newControlPlaneEnv(t, fakeControlPlane{key: []byte("k")})
	storeSettings(t, j)
	a := j.as(admin)
	for _, tt := range []struct {
		name               string
		req                api.TokenRequest
		wantKind, wantRepo string
	}{
		{"node", api.TokenRequest{}, api.TokenKindNode, ""},
		{"server", api.TokenRequest{Kind: api.TokenKindServer}, api.TokenKindServer, testSettings.Repo},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := a.do("POST", api.PathTokens, tt.req)
			var resp api.TokenResponse
			if code != 201 || json.Unmarshal(body, &resp) != nil {
				t.Fatalf("%d %s", code, body)
			}
			if resp.Kind != tt.wantKind || resp.Repo != tt.wantRepo {
				t.Errorf("kind %q repo %q, want %q %q", resp.Kind, resp.Repo, tt.wantKind, tt.wantRepo)
			}
		})
	}
	code, body := a.do("POST", api.PathTokens, api.TokenRequest{Kind: "root"})
	if code != 400 || !strings.Contains(string(body), `kind \"root\"`) {
		t.Errorf("kind root: %d %s, want 400 naming the kind", code, body)
	}
}

// TestServers serves the Servers hook sorted, to every authenticated
// identity.
func TestServers(t *testing.T) {
	started := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	list := []api.ServerInfo{{Name: "s2", URL: "https://127.0.0.1:2", Started: started}, {Name: "s1", URL: "https://127.0.0.1:1", Started: started}}
	var fail error
	j := &joinEnv{}
	j.joinEnvWith(t, func(cfg *apiserver.Config) {
		cfg.Servers = func(context.Context) ([]api.ServerInfo, error) { return list, fail }
	})
	for _, tt := range []struct {
		name     string
		user     api.User
		fail     error
		wantCode int
		wantBody string
	}{
		{"admin", admin, nil, 200, `[{"name":"s1","url":"https://127.0.0.1:1","started":"2026-12-07T10:00:00Z"},{"name":"s2"`},
		{"node", nodeA, nil, 200, `"name":"s1"`},
		{"anonymous", nobody, nil, 401, "Unauthorized"},
		{"registry unreadable", admin, errors.New("etcd is gone"), 503, "etcd is gone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fail = tt.fail
			code, body := j.as(tt.user).do("GET", api.PathServers, nil)
			if code != tt.wantCode || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("%d %s; want %d with %s", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
	none := newControlPlaneEnv(t, nil)
	if code, body := none.as(admin).do("GET", api.PathServers, nil); code != 503 {
		t.Errorf("without a Servers hook: %d %s, want 503", code, body)
	}
}

func storeSettings(t *testing.T, j *joinEnv) {
	t.Helper()
	if _, _, err := store.InitClusterSettings(t.Context(), j.st.Client(), testSettings); err != nil {
		t.Fatal(err)
	}
}

func memberNamed(t *testing.T, members []api.EtcdMember, name string) api.EtcdMember {
	t.Helper()
	for _, m := range members {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no member %s in %+v", name, members)
	return api.EtcdMember{}
}

func checkUsagesLeft(t *testing.T, j *joinEnv, token string, want int) {
	t.Helper()
	info, err := j.tokens.Check(t.Context(), token)
	if err != nil || info.UsagesLeft != want {
		t.Errorf("token: %d uses left (%v), want %d", info.UsagesLeft, err, want)
	}
}

// TestServerJoinRetryUsedUpToken retries a join whose token's only use it
// took: the retry is answered, a new join with that token is not.
func TestServerJoinRetryUsedUpToken(t *testing.T) {
	j := newControlPlaneEnv(t, fakeControlPlane{key: []byte("k")})
	storeSettings(t, j)
	once := j.token(t, api.TokenRequest{Kind: api.TokenKindServer, Usages: 1})
	first := api.ServerJoinRequest{Name: "cp-2", PeerURL: "https://127.0.0.1:1", ClientURL: "https://127.0.0.1:2"}
	var id string
	for _, tt := range []struct {
		name     string
		req      api.ServerJoinRequest
		wantCode int
		wantBody string
	}{
		{"join", first, 200, `"name":"cp-2"`},
		{"retry with the used-up token", first, 200, `"name":"cp-2"`},
		{"a new join with it", api.ServerJoinRequest{Name: "cp-3", PeerURL: "https://127.0.0.1:3", ClientURL: "https://127.0.0.1:4"}, 401, "has no usages left"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := j.serverJoin(t, once, tt.req)
			if code != tt.wantCode || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("%d %s; want %d with %q", code, body, tt.wantCode, tt.wantBody)
			}
			if code != 200 {
				return
			}
			var resp api.ServerJoinResponse
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatal(err)
			}
			got := memberNamed(t, resp.Members, "cp-2").ID
			if id != "" && got != id {
				t.Errorf("answered member %s, want %s", got, id)
			}
			id = got
		})
	}
}
