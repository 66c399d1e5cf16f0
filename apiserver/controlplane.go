package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/tokens"
)

// ControlPlane is what a server joining the control plane receives besides
// a place in the etcd cluster: the cluster CA's key. It is owned by the
// caller (cmd wires the CA when the embedded etcd is a TLS cluster
// member); methods must be safe for concurrent use.
type ControlPlane interface {
	// CAKeyPEM returns the cluster CA's private key, PEM. An error means
	// this server takes no new members (it runs on an external etcd, or
	// on an embedded one that is no cluster member): the join is answered
	// 503 with the error's message, which says what to do instead.
	CAKeyPEM() ([]byte, error)
}

// serverJoinTimeout bounds a control-plane join's etcd work (etcd accepts
// a new member only from a member connected to a majority for a while).
const serverJoinTimeout = 30 * time.Second

func (s *Server) noControlPlane() *apiError {
	return errUnavailable("this API server takes no control-plane members (it was started without the means to add them)")
}

// serveServerJoin answers POST api.PathServerJoin: a server token (bearer)
// and the new member's name and URLs make the sender an etcd learner and
// give it the cluster CA (certificate and key), the member list, the
// initial cluster to start its etcd with and the cluster's settings. A
// joiner that crashed after it was added and asks again (same peer URL,
// its member not started) gets the same member back, and takes no second
// use of the token.
func (s *Server) serveServerJoin(w http.ResponseWriter, req *http.Request) {
	if s.cfg.Signer == nil {
		writeError(w, s.noCA())
		return
	}
	if s.cfg.ControlPlane == nil {
		writeError(w, s.noControlPlane())
		return
	}
	token, ok := bearerToken(req)
	if !ok {
		writeError(w, errUnauthorized(`joining the control plane needs a server token: send the header "Authorization: Bearer ID.SECRET" (bosun server --token; bosun token create --control-plane makes one)`))
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), serverJoinTimeout)
	defer cancel()
	// A used-up token may still complete the join it was used for (a
	// retry, below); it may not start a new one.
	info, err := s.tokens.Check(ctx, token)
	var usedUp error
	if errors.Is(err, tokens.ErrUsedUp) {
		usedUp = err
		info, err = s.tokens.Verify(ctx, token)
	}
	if err != nil {
		writeError(w, tokenError(err))
		return
	}
	if info.Kind != api.TokenKindServer {
		writeError(w, newStatusError(http.StatusForbidden, metav1.StatusReasonForbidden, fmt.Sprintf(
			"bootstrap token %s may not join the control plane: this is a node token; create one with bosun token create --control-plane", info.ID)))
		return
	}
	caKey, err := s.cfg.ControlPlane.CAKeyPEM()
	if err != nil {
		writeError(w, errUnavailable("%v", err))
		return
	}
	var jr api.ServerJoinRequest
	if aerr := s.decodeJSON(w, req, &jr, "control-plane join request"); aerr != nil {
		writeError(w, aerr)
		return
	}
	if aerr := checkServerJoin(jr); aerr != nil {
		writeError(w, aerr)
		return
	}
	cli := s.cfg.Store.Client()
	settings, ok, err := store.LoadClusterSettings(ctx, cli)
	if err != nil {
		writeError(w, errInternal(err))
		return
	}
	if !ok {
		writeError(w, errUnavailable("the cluster's settings are not stored yet (the first server stores them as it starts); try again in a moment"))
		return
	}
	members, err := store.ListMembers(ctx, cli)
	if err != nil {
		writeError(w, errUnavailable("list the etcd members: %v", err))
		return
	}
	joiner, retry, aerr := findJoiner(members, jr)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if !retry && usedUp != nil {
		writeError(w, tokenError(usedUp))
		return
	}
	if !retry {
		added, _, err := store.AddLearner(ctx, cli, jr.Name, jr.PeerURL)
		if err != nil {
			writeError(w, memberError(jr, err))
			return
		}
		// Last: take the use. A join that lost the race for the last use
		// takes its member out again (a learner: the majority is not
		// touched).
		used, err := s.tokens.Use(ctx, token)
		if err != nil {
			if _, rerr := store.RemoveMember(context.WithoutCancel(ctx), cli, store.FormatID(added.ID)); rerr != nil {
				s.log.Error("a control-plane join lost its token's last use; removing the learner it added failed: remove it with bosun member remove",
					"member", store.FormatID(added.ID), "err", rerr)
			}
			writeError(w, tokenError(err))
			return
		}
		info = used
		joiner = added
		members = append(members, added)
	}
	initial, aerr := initialCluster(members, joiner, jr.Name)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	resp := api.ServerJoinResponse{
		CACert:         s.cfg.Signer.CACertPEM(),
		CAKey:          caKey,
		InitialCluster: initial,
		Cluster:        settings,
	}
	for _, m := range members {
		em := api.EtcdMember{Name: m.Name, ID: store.FormatID(m.ID), PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.Learner}
		if m.ID == joiner.ID {
			em.Name = jr.Name
		}
		resp.Members = append(resp.Members, em)
	}
	s.log.Info("a server joins the control plane: added as an etcd learner", "member", jr.Name, "id", store.FormatID(joiner.ID),
		"peerURL", jr.PeerURL, "clientURL", jr.ClientURL, "retry", retry, "token", info.ID, "usagesLeft", info.UsagesLeft)
	writeJSON(w, http.StatusOK, resp)
}

// checkServerJoin checks the request's name and URLs.
func checkServerJoin(jr api.ServerJoinRequest) *apiError {
	if msgs := validation.IsDNS1123Subdomain(jr.Name); len(msgs) > 0 {
		return errBadRequest("member name %q: %s", jr.Name, strings.Join(msgs, "; "))
	}
	for _, u := range []struct{ what, raw string }{{"peer URL", jr.PeerURL}, {"client URL", jr.ClientURL}} {
		parsed, err := url.Parse(u.raw)
		if err != nil || parsed.Scheme != "https" || parsed.Hostname() == "" || parsed.Port() == "" || parsed.Port() == "0" ||
			(parsed.Path != "" && parsed.Path != "/") {
			return errBadRequest("%s %q: want https://HOST:PORT (a control-plane member's etcd speaks TLS; the port must be fixed)", u.what, u.raw)
		}
	}
	return nil
}

// findJoiner looks for the joiner among the members: a member not started
// at its peer URL is a join retried (retry true); a running member of its
// name or peer URL is a conflict (409).
func findJoiner(members []store.Member, jr api.ServerJoinRequest) (joiner store.Member, retry bool, aerr *apiError) {
	for _, m := range members {
		samePeer := slices.Contains(m.PeerURLs, jr.PeerURL)
		switch {
		case m.Started() && m.Name == jr.Name:
			return store.Member{}, false, conflict(jr.Name, fmt.Sprintf(
				"an etcd member named %q is running (ID %s, peer URL %s); remove it first with bosun member remove %s, or join with another --etcd-name",
				m.Name, store.FormatID(m.ID), strings.Join(m.PeerURLs, ","), m.Name))
		case m.Started() && samePeer:
			return store.Member{}, false, conflict(jr.Name, fmt.Sprintf(
				"etcd member %q (ID %s) is running at peer URL %s; remove it first with bosun member remove %s, or join with another --etcd-peer-url",
				m.Name, store.FormatID(m.ID), jr.PeerURL, m.Name))
		case samePeer:
			joiner, retry = m, true
		}
	}
	return joiner, retry, nil
}

// initialCluster is the new member's --initial-cluster: every member by
// name, the joiner by the name it asked for. Another member added but not
// started cannot be named: 409.
func initialCluster(members []store.Member, joiner store.Member, name string) (string, *apiError) {
	var parts []string
	for _, m := range members {
		n := m.Name
		if m.ID == joiner.ID {
			n = name
		}
		if n == "" {
			return "", conflict(name, fmt.Sprintf(
				"etcd member %s (peer URL %s) was added but never started; start it, or remove it with bosun member remove %s, first",
				store.FormatID(m.ID), strings.Join(m.PeerURLs, ","), store.FormatID(m.ID)))
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, n+"="+u)
		}
	}
	return strings.Join(parts, ","), nil
}

// conflict is the 409 of a control-plane join.
func conflict(name, msg string) *apiError {
	e := newStatusError(http.StatusConflict, metav1.StatusReasonConflict, msg)
	e.status.Details = &metav1.StatusDetails{Name: name, Kind: "members"}
	return e
}

// memberError maps store.AddLearner's errors onto the answer.
func memberError(jr api.ServerJoinRequest, err error) *apiError {
	switch {
	case errors.Is(err, api.ErrExists), errors.Is(err, api.ErrConflict):
		return conflict(jr.Name, err.Error())
	case errors.Is(err, api.ErrInvalid):
		return errBadRequest("%v", err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return errUnavailable("add etcd member %s: %v", jr.Name, err)
	}
	return errInternal(err)
}

// serveServers answers GET api.PathServers: the running API servers, as a
// JSON array sorted by name.
func (s *Server) serveServers(w http.ResponseWriter, req *http.Request) {
	if s.cfg.Servers == nil {
		writeError(w, errUnavailable("this API server keeps no list of the cluster's servers"))
		return
	}
	list, err := s.cfg.Servers(req.Context())
	if err != nil {
		writeError(w, errUnavailable("list the API servers: %v", err))
		return
	}
	list = slices.Clone(list)
	if list == nil {
		list = []api.ServerInfo{}
	}
	slices.SortFunc(list, func(a, b api.ServerInfo) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, list)
}
