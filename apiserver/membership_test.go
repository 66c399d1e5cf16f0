package apiserver_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/nodeagent/agentapi/execstream"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/tokens"
)

// joinEnv is an HTTPS API whose tokens and node checks run on a fake clock.
type joinEnv struct {
	*tlsEnv
	clk    *clocktesting.FakeClock
	tokens *tokens.Store
}

func newJoinEnv(t *testing.T) *joinEnv {
	t.Helper()
	j := &joinEnv{}
	j.joinEnvWith(t, nil)
	return j
}

// joinEnvWith sets j up as newJoinEnv does, configure changing the API's
// Config further.
func (j *joinEnv) joinEnvWith(t *testing.T, configure func(*apiserver.Config)) {
	t.Helper()
	j.clk = clocktesting.NewFakeClock(time.Now())
	j.tlsEnv = newTLSEnv(t, func(cfg *apiserver.Config, st *store.Store) {
		j.tokens = tokens.New(st.Client(), j.clk)
		cfg.Tokens = j.tokens
		cfg.Now = j.clk.Now
		if configure != nil {
			configure(cfg)
		}
	})
}

func (j *joinEnv) token(t *testing.T, req api.TokenRequest) string {
	t.Helper()
	tok, _, err := j.tokens.Create(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// join posts a join request with token (none when "") for node.
func (j *joinEnv) join(t *testing.T, token, node string, csr []byte) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(api.JoinRequest{NodeName: node, CSR: csr})
	req, err := http.NewRequestWithContext(t.Context(), "POST", j.url+api.PathJoin, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := j.client(nobody).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// nodeNames lists the registered nodes.
func (j *joinEnv) nodeNames(t *testing.T) []string {
	t.Helper()
	nodes, _ := api.Lookup("nodes")
	objs, _, err := j.st.List(t.Context(), nodes, "", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.GetName())
	}
	return out
}

// runningNode registers node name as a running machine: Ready, its Lease
// renewed renewedAgo before the fake clock's now.
func (j *joinEnv) runningNode(t *testing.T, name string, renewedAgo time.Duration) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	renew := metav1.NewMicroTime(j.clk.Now().Add(-renewedAgo))
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: name},
		Spec: coordinationv1.LeaseSpec{RenewTime: &renew}}
	for _, o := range []api.Object{n, l} {
		if err := j.st.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func parseCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatalf("no PEM certificate in %q", pemBytes)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestJoin joins a node, then uses its credential: to read as the node
// and to renew it.
func TestJoin(t *testing.T) {
	j := newJoinEnv(t)
	tok := j.token(t, api.TokenRequest{Usages: 1})
	key, csr := newCSR(t, "anything")
	code, body := j.join(t, tok, "w1", csr)
	if code != http.StatusOK {
		t.Fatalf("join = %d %s", code, body)
	}
	var cr api.CertificateResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cr.CACert, j.ca.certPEM) {
		t.Errorf("join answered another CA certificate")
	}
	cert := parseCert(t, cr.Certificate)
	if cert.Subject.CommonName != "system:node:w1" || strings.Join(cert.Subject.Organization, ",") != api.GroupNodes {
		t.Errorf("subject = %v, want system:node:w1 in system:nodes", cert.Subject)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: j.ca.pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the node certificate does not verify: %v", err)
	}
	if names := j.nodeNames(t); len(names) != 0 {
		t.Errorf("join registered nodes %v: the agent registers its Node itself", names)
	}
	list, _ := j.tokens.List(t.Context())
	if len(list) != 1 || list[0].UsagesLeft != 0 {
		t.Errorf("tokens after the join = %+v, want its use taken", list)
	}

	// The credential works: as node w1.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: j.ca.pool(),
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}}}}
	defer tr.CloseIdleConnections()
	w1 := &env{t: t, st: j.st, url: j.url, client: &http.Client{Transport: tr}}
	if code, b := w1.do("GET", "/api/v1/nodes", nil); code != 200 {
		t.Errorf("node lists nodes: %d %s", code, b)
	}
	if code, _ := w1.do("GET", "/api/v1/namespaces/default/secrets/x", nil); code != 403 {
		t.Errorf("node reads an unrelated secret: %d, want 403", code)
	}
	_, csr2 := newCSR(t, "")
	code, body = w1.do("POST", api.PathCertificates, api.RenewRequest{CSR: csr2})
	if code != 200 {
		t.Fatalf("renewal = %d %s", code, body)
	}
	if err := json.Unmarshal(body, &cr); err != nil {
		t.Fatal(err)
	}
	if c := parseCert(t, cr.Certificate); c.Subject.CommonName != "system:node:w1" {
		t.Errorf("renewed certificate is for %q", c.Subject.CommonName)
	}
	if code, b := j.as(admin).do("POST", api.PathCertificates, api.RenewRequest{CSR: csr2}); code != 403 {
		t.Errorf("admin renewal = %d %s, want 403", code, b)
	}
	if code, b := w1.do("POST", api.PathCertificates, api.RenewRequest{CSR: []byte("junk")}); code != 400 {
		t.Errorf("renewal with a bad CSR = %d %s, want 400", code, b)
	}
}

// TestJoinRefused: each failure is refused with its reason, registers
// nothing and takes no use of a good token.
func TestJoinRefused(t *testing.T) {
	j := newJoinEnv(t)
	_, csr := newCSR(t, "")
	good := j.token(t, api.TokenRequest{Usages: 5})
	goodID, _, _ := tokens.Parse(good)
	expiring := j.token(t, api.TokenRequest{TTL: time.Minute})
	deleted := j.token(t, api.TokenRequest{})
	delID, _, _ := tokens.Parse(deleted)
	if err := j.tokens.Delete(t.Context(), delID); err != nil {
		t.Fatal(err)
	}
	usedUp := j.token(t, api.TokenRequest{Usages: 1})
	if _, err := j.tokens.Use(t.Context(), usedUp); err != nil {
		t.Fatal(err)
	}
	j.runningNode(t, "held", 5*time.Second)
	j.runningNode(t, "stale", 5*time.Minute)
	j.clk.Step(2 * time.Minute) // expiring has expired; held renewed 2m5s ago now...
	// ... so renew held again, as a running agent does.
	j.runningNodeRenew(t, "held")

	tests := []struct {
		name  string
		token string
		node  string
		csr   []byte
		code  int
		msg   string
	}{
		{"no token", "", "w1", csr, 401, "Authorization: Bearer ID.SECRET"},
		{"malformed token", "nope", "w1", csr, 401, "malformed"},
		{"wrong secret", goodID + ".0000000000000000", "w1", csr, 401, "bootstrap token " + goodID + ": secret does not match"},
		{"expired", expiring, "w1", csr, 401, "expired at"},
		{"deleted", deleted, "w1", csr, 401, "bootstrap token " + delID + ": unknown (deleted or never created)"},
		{"used up", usedUp, "w1", csr, 401, "has no usages left"},
		{"name held by a running machine", good, "held", csr, 409, `node name \"held\" is held by another machine`},
		{"bad CSR", good, "w1", []byte("not a csr"), 400, "CERTIFICATE REQUEST"},
		{"bad node name", good, "Bad_Name", csr, 400, "node name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := j.join(t, tt.token, tt.node, tt.csr)
			if code != tt.code || !strings.Contains(string(body), tt.msg) {
				t.Errorf("join = %d %s; want %d containing %s", code, body, tt.code, tt.msg)
			}
			if _, secret, err := tokens.Parse(tt.token); err == nil && strings.Contains(string(body), secret) {
				t.Errorf("the answer shows the token's secret: %s", body)
			}
		})
	}
	if got := strings.Join(j.nodeNames(t), ","); got != "held,stale" {
		t.Errorf("nodes after refused joins = %s, want only the two registered by the test", got)
	}
	info, err := j.tokens.Check(t.Context(), good)
	if err != nil || info.UsagesLeft != 5 {
		t.Errorf("good token after refused joins = %+v, %v; want 5 uses left", info, err)
	}
	// A node whose Lease is stale does not hold its name: a machine may
	// take it over.
	if code, body := j.join(t, good, "stale", csr); code != 200 {
		t.Errorf("join as a stale node = %d %s", code, body)
	}
}

// runningNodeRenew renews node name's Lease at the fake clock's now.
func (j *joinEnv) runningNodeRenew(t *testing.T, name string) {
	t.Helper()
	l := &coordinationv1.Lease{}
	if err := j.st.Get(t.Context(), corev1.NamespaceNodeLease, name, l); err != nil {
		t.Fatal(err)
	}
	renew := metav1.NewMicroTime(j.clk.Now())
	l.Spec.RenewTime = &renew
	if err := j.st.Update(t.Context(), l); err != nil {
		t.Fatal(err)
	}
}

// TestJoinLastUseRace: of joins racing for a token's last use through the
// API, exactly one gets a certificate.
func TestJoinLastUseRace(t *testing.T) {
	j := newJoinEnv(t)
	tok := j.token(t, api.TokenRequest{Usages: 1})
	_, csr := newCSR(t, "")
	const racers = 8
	codes := make(chan string, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			code, body := j.join(t, tok, "w"+strconv.Itoa(i), csr)
			codes <- strconv.Itoa(code) + " " + string(body)
		})
	}
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		switch {
		case strings.HasPrefix(c, "200 "):
			ok++
		case !strings.HasPrefix(c, "401 ") || !strings.Contains(c, "has no usages left"):
			t.Errorf("a losing join got %s, want 401 has no usages left", c)
		}
	}
	if ok != 1 {
		t.Errorf("%d joins succeeded with a one-use token", ok)
	}
}

func TestTokenEndpoints(t *testing.T) {
	j := newJoinEnv(t)
	a := j.as(admin)
	code, body := a.do("POST", api.PathTokens, api.TokenRequest{TTL: time.Hour, Usages: 2, Description: "rack 4"})
	if code != http.StatusCreated {
		t.Fatalf("create = %d %s", code, body)
	}
	var tr api.TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatal(err)
	}
	id, _, err := tokens.Parse(tr.Token)
	if err != nil || tr.ID != id || tr.UsagesLeft != 2 || tr.Description != "rack 4" || tr.Server != "https://10.0.0.1:6443" {
		t.Errorf("create answered %+v (%v)", tr, err)
	}
	sum := sha256.Sum256(j.ca.cert.RawSubjectPublicKeyInfo)
	if want := "sha256:" + hex.EncodeToString(sum[:]); tr.CACertHash != want {
		t.Errorf("CA hash %s, want %s", tr.CACertHash, want)
	}
	if _, err := j.tokens.Check(t.Context(), tr.Token); err != nil {
		t.Errorf("the created token does not check: %v", err)
	}

	code, body = a.do("GET", api.PathTokens, nil)
	var list struct {
		Items []api.BootstrapToken `json:"items"`
	}
	if err := json.Unmarshal(body, &list); code != 200 || err != nil || len(list.Items) != 1 || list.Items[0].ID != id {
		t.Fatalf("list = %d %s", code, body)
	}
	if strings.Contains(string(body), tr.Token) {
		t.Errorf("the list shows the token's secret: %s", body)
	}

	tests := []struct {
		name   string
		user   api.User
		method string
		path   string
		body   any
		code   int
		msg    string
	}{
		{"bad usages", admin, "POST", api.PathTokens, api.TokenRequest{Usages: -1}, 400, "usages -1"},
		{"unknown field", admin, "POST", api.PathTokens, `{"ttl":1,"uses":3}`, 400, "uses"},
		{"node creates", nodeA, "POST", api.PathTokens, api.TokenRequest{}, 403, `cannot create path \"/bosun/v1/tokens\"`},
		{"node deletes", nodeA, "DELETE", api.PathTokens + "/" + id, nil, 403, "forbidden"},
		{"anonymous lists", nobody, "GET", api.PathTokens, nil, 401, "Unauthorized"},
		{"delete", admin, "DELETE", api.PathTokens + "/" + id, nil, 200, `"status":"Success"`},
		{"delete again", admin, "DELETE", api.PathTokens + "/" + id, nil, 404, "bootstrap token " + id + ": unknown"},
		{"delete a bad ID", admin, "DELETE", api.PathTokens + "/NOPE", nil, 400, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := j.as(tt.user)
			c.t = t
			code, body := c.do(tt.method, tt.path, tt.body)
			if code != tt.code || !strings.Contains(string(body), tt.msg) {
				t.Errorf("%s %s = %d %s; want %d containing %s", tt.method, tt.path, code, body, tt.code, tt.msg)
			}
		})
	}
	if code, body := j.join(t, tr.Token, "w1", func() []byte { _, c := newCSR(t, ""); return c }()); code != 401 {
		t.Errorf("join with the deleted token = %d %s", code, body)
	}
}

// TestAgentsOverHTTPS: logs and exec go from a client over HTTPS (HTTP/2)
// to the API and on to an HTTPS agent that requires the API server's
// client certificate.
func TestAgentsOverHTTPS(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{c}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "caller "+r.TLS.VerifiedChains[0][0].Subject.CommonName+" "+r.URL.Path)
	})
	mux.HandleFunc("POST /exec/{ns}/{pod}/{c}", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		w.Header().Set("Content-Type", execstream.ContentType)
		sw := execstream.NewWriter(w, func() { _ = rc.Flush() })
		_, _ = io.WriteString(sw.Stderr(), "caller "+r.TLS.VerifiedChains[0][0].Subject.CommonName)
		_, _ = io.Copy(sw.Stdout(), r.Body)
		_ = sw.Exit(3)
	})
	agent := httptest.NewUnstartedServer(mux)
	agent.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	var agentPort int32
	e := newTLSEnv(t, func(cfg *apiserver.Config, _ *store.Store) {
		ca := cfg.Signer.(*testCA)
		agent.TLS = &tls.Config{Certificates: []tls.Certificate{ca.servingCert(t)},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool()}
		apiCert := ca.clientCert(t, api.User{Name: api.UserAPIServer, Groups: []string{api.GroupMasters}})
		cfg.AgentTransport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{apiCert}}}
	})
	agent.StartTLS()
	defer agent.Close()
	_, port, _ := net.SplitHostPort(agent.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	agentPort = int32(p)

	a := e.as(admin)
	a.client.Transport.(*http.Transport).ForceAttemptHTTP2 = true
	a.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: agentPort}}}})
	a.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "x"}}}})

	code, body := a.do("GET", "/api/v1/namespaces/default/pods/p/log", nil)
	if code != 200 || string(body) != "caller bosun:apiserver /containerLogs/default/p/c" {
		t.Errorf("log over HTTPS = %d %q", code, body)
	}
	code, body = a.do("POST", "/api/v1/namespaces/default/pods/p/exec?command=cat&stdin=true", "input")
	if code != 200 {
		t.Fatalf("exec over HTTPS = %d %s", code, body)
	}
	var stdout, stderr bytes.Buffer
	exit, err := execstream.Copy(bytes.NewReader(body), &stdout, &stderr)
	if err != nil || exit != 3 || stdout.String() != "input" || stderr.String() != "caller bosun:apiserver" {
		t.Errorf("exec: exit %d err %v stdout %q stderr %q", exit, err, stdout.String(), stderr.String())
	}

	// A node credential may not exec, nor may the agent be reached
	// without the API server's certificate.
	if code, b := e.as(nodeA).do("POST", "/api/v1/namespaces/default/pods/p/exec?command=cat", nil); code != 403 {
		t.Errorf("exec as a node = %d %s, want 403", code, b)
	}
	direct := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.ca.pool()}}
	defer direct.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: direct}).Get(agent.URL + "/containerLogs/default/p/c"); err == nil {
		resp.Body.Close()
		t.Errorf("the agent answered a client without certificate: %d", resp.StatusCode)
	}
}
