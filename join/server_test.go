package join

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/pki"
)

// serverJoin answers a control-plane join as the API does, with the
// fake's CA and its key (or opts.refuse).
func (srv *fakeServer) serverJoin(w http.ResponseWriter, r *http.Request) {
	srv.joins.Add(1)
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "bootstrap token abcdef: secret does not match")
		return
	}
	if rf := srv.opts.refuse; rf.code != 0 {
		writeStatus(w, rf.code, rf.reason, rf.msg)
		return
	}
	var req api.ServerJoinRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	key, err := srv.ca.KeyPEM()
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
		return
	}
	caPEM := srv.ca.CertPEM()
	if srv.opts.answerCA != nil {
		caPEM = srv.opts.answerCA.CertPEM()
	}
	writeJSON(w, http.StatusOK, api.ServerJoinResponse{
		CACert: caPEM, CAKey: key,
		Members:        []api.EtcdMember{{Name: "cp-1", ID: "1", PeerURLs: []string{"https://10.0.0.1:2380"}}, {Name: req.Name, ID: "2", PeerURLs: []string{req.PeerURL}, IsLearner: true}},
		InitialCluster: "cp-1=https://10.0.0.1:2380," + req.Name + "=" + req.PeerURL,
		Cluster:        api.ClusterSettings{ClusterCIDR: "10.244.0.0/16", Repo: "https://git.example.com/deploy.git"},
	})
}

func (srv *fakeServer) serverConfig(t *testing.T) ServerConfig {
	return ServerConfig{
		Server: srv.srv.URL, Token: testToken, CACertHash: srv.ca.Hash(),
		Name: "cp-2", PeerURL: "https://10.0.0.2:2380", ClientURL: "https://127.0.0.1:2379",
		PKIDir: filepath.Join(t.TempDir(), "pki"),
	}
}

// TestJoinServer joins the control plane of a fake server: the CA lands in
// the pki directory only when every check passes.
func TestJoinServer(t *testing.T) {
	other, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		opts     fakeOptions
		change   func(*ServerConfig)
		sentinel error
		want     string
	}{
		{name: "joins"},
		{name: "wrong pin", change: func(c *ServerConfig) { c.CACertHash = other.Hash() }, sentinel: ErrCAHashMismatch, want: "refusing to send the token"},
		{name: "wrong secret", change: func(c *ServerConfig) { c.Token = "abcdef.ffffffffffffffff" }, sentinel: ErrTokenRejected, want: "bosun token create --control-plane"},
		{name: "node token", opts: fakeOptions{refuse: refusal{403, metav1.StatusReasonForbidden, "this is a node token; create one with bosun token create --control-plane"}},
			sentinel: ErrNotServerToken, want: "this is a node token"},
		{name: "name taken", opts: fakeOptions{refuse: refusal{409, metav1.StatusReasonConflict, "remove it first with bosun member remove cp-2"}},
			sentinel: api.ErrConflict, want: "bosun member remove cp-2"},
		{name: "external etcd", opts: fakeOptions{refuse: refusal{503, metav1.StatusReasonServiceUnavailable, "point the new server at the same --etcd-endpoints"}},
			sentinel: ErrUnavailable, want: "--etcd-endpoints"},
		{name: "serving certificate from another CA", opts: fakeOptions{servingCA: other}, want: "certificate signed by unknown authority"},
		{name: "answer names another CA", opts: fakeOptions{answerCA: other}, want: "names CA " + other.Hash()},
		{name: "no member name", change: func(c *ServerConfig) { c.Name = "" }, want: "are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, tc.opts)
			cfg := srv.serverConfig(t)
			if tc.change != nil {
				tc.change(&cfg)
			}
			resp, err := JoinServer(context.Background(), cfg)
			if tc.want != "" || tc.sentinel != nil {
				if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.sentinel != nil && !errors.Is(err, tc.sentinel)) {
					t.Fatalf("JoinServer = %v, want an error saying %q (sentinel %v)", err, tc.want, tc.sentinel)
				}
				if _, err := os.Stat(cfg.PKIDir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("pki directory exists after a failed join (%v)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.InitialCluster != "cp-1=https://10.0.0.1:2380,cp-2=https://10.0.0.2:2380" || resp.Cluster.Repo == "" {
				t.Errorf("answer %+v", resp)
			}
			ca, err := pki.LoadOrCreateCA(cfg.PKIDir)
			if err != nil || ca.Hash() != srv.ca.Hash() {
				t.Fatalf("installed CA %v (%v), want %s", ca, err, srv.ca.Hash())
			}
			if m := fileMode(t, filepath.Join(cfg.PKIDir, pki.CAKeyFile)); m != 0o600 {
				t.Errorf("CA key mode %v, want 0600", m)
			}
			// A retry (after a crash) installs the same CA again.
			if _, err := JoinServer(context.Background(), cfg); err != nil {
				t.Errorf("a retried join: %v", err)
			}
		})
	}
}
