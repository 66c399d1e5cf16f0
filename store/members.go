package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/api"
)

// Member is one member of the etcd cluster.
type Member struct {
	// ID is etcd's member ID; FormatID prints it as etcdctl does.
	ID uint64
	// Name is the member's name; "" until an added member has started.
	Name string
	// PeerURLs are where the other members reach it; ClientURLs where
	// clients do ("" until it has started).
	PeerURLs, ClientURLs []string
	// Learner is true for a member that receives the log but does not vote
	// yet (see PromoteLearner).
	Learner bool
	// Leader is true for the current raft leader.
	Leader bool
}

// Started reports whether the member has started since it was added (etcd
// learns a member's name and client URLs from the member itself).
func (m Member) Started() bool { return m.Name != "" }

// FormatID returns id in hexadecimal, as etcdctl prints member IDs.
func FormatID(id uint64) string { return strconv.FormatUint(id, 16) }

// ListMembers returns the members of the etcd cluster c talks to, sorted
// by name (members not started yet last), with the leader marked. The
// leader is asked of the client's endpoints in turn; when none answers,
// no member is marked.
func ListMembers(ctx context.Context, c *clientv3.Client) ([]Member, error) {
	resp, err := c.MemberList(ctx)
	if err != nil {
		return nil, mapMemberErr("list etcd members", err)
	}
	var leader uint64
	for _, ep := range c.Endpoints() {
		if st, err := c.Status(ctx, ep); err == nil {
			leader = st.Leader
			break
		}
	}
	out := make([]Member, 0, len(resp.Members))
	for _, m := range resp.Members {
		mem := toMember(m)
		mem.Leader = leader != 0 && m.ID == leader
		out = append(out, mem)
	}
	slices.SortFunc(out, func(a, b Member) int {
		if a.Started() != b.Started() {
			if a.Started() {
				return -1
			}
			return 1
		}
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func toMember(m *etcdserverpb.Member) Member {
	return Member{
		ID:         m.ID,
		Name:       m.Name,
		PeerURLs:   slices.Clone(m.PeerURLs),
		ClientURLs: slices.Clone(m.ClientURLs),
		Learner:    m.IsLearner,
	}
}

// AddLearner adds a member that will be named name and reached at peerURL
// to the cluster c talks to, as a learner: it receives the log but does not
// count towards quorum, so a slow or failed start cannot cost the cluster
// its majority (etcd's recommended way to grow a cluster; etcd allows one
// learner at a time). It returns the new member and the InitialCluster to
// start it with (EmbedConfig.InitialCluster, ClusterState
// ClusterStateExisting, on an empty data directory); once it has started,
// PromoteLearner makes it a voter.
//
// etcd accepts a new member only from a member that has been connected to
// a majority of the voters for a while (5 s): AddLearner asks again,
// backing off, while etcd says so, until ctx ends.
//
// A name or peer URL already in the cluster fails with api.ErrExists;
// another member not yet started or a learner not yet promoted with
// api.ErrConflict (etcd allows one learner at a time).
func AddLearner(ctx context.Context, c *clientv3.Client, name, peerURL string) (Member, string, error) {
	if name == "" || strings.ContainsAny(name, "=,") {
		return Member{}, "", fmt.Errorf("store: add etcd member: %w: name %q: want a non-empty name without '=' or ','", api.ErrInvalid, name)
	}
	if !strings.HasPrefix(peerURL, "http://") && !strings.HasPrefix(peerURL, "https://") {
		return Member{}, "", fmt.Errorf("store: add etcd member %s: %w: peer URL %q: want http:// or https://", name, api.ErrInvalid, peerURL)
	}
	existing, err := c.MemberList(ctx)
	if err != nil {
		return Member{}, "", mapMemberErr("add etcd member "+name, err)
	}
	for _, m := range existing.Members {
		if m.Name == name {
			return Member{}, "", fmt.Errorf("store: add etcd member %s: %w: a member of that name exists (ID %s); remove it first", name, api.ErrExists, FormatID(m.ID))
		}
		if slices.Contains(m.PeerURLs, peerURL) {
			return Member{}, "", fmt.Errorf("store: add etcd member %s: %w: member %s (%s) has peer URL %s", name, api.ErrExists, m.Name, FormatID(m.ID), peerURL)
		}
		if m.Name == "" {
			// Added but never started: the new member's initial cluster
			// could not name it, and etcd would refuse the new member.
			return Member{}, "", fmt.Errorf("store: add etcd member %s: %w: member %s (%s) was added but never started; start it, or remove it (bosun member remove %s), first",
				name, api.ErrConflict, FormatID(m.ID), strings.Join(m.PeerURLs, ","), FormatID(m.ID))
		}
	}
	var resp *clientv3.MemberAddResponse
	err = retryWhile(ctx, rpctypes.ErrUnhealthy, func() error {
		resp, err = c.MemberAddAsLearner(ctx, []string{peerURL})
		return err
	})
	if err != nil {
		return Member{}, "", mapMemberErr("add etcd member "+name+" at "+peerURL, err)
	}
	added := toMember(resp.Member)
	added.Name = name
	var parts []string
	for _, m := range resp.Members {
		n := m.Name
		if m.ID == resp.Member.ID {
			n = name
		}
		if n == "" {
			// Someone else added a member in between.
			return added, "", fmt.Errorf("store: add etcd member %s: %w: member %s (%s) was added at the same time and has not started; remove one of them",
				name, api.ErrConflict, FormatID(m.ID), strings.Join(m.PeerURLs, ","))
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, n+"="+u)
		}
	}
	return added, strings.Join(parts, ","), nil
}

// Retries of membership changes etcd refuses for now: the first after
// retryFirstWait, doubling up to retryMaxWait.
const (
	retryFirstWait = 50 * time.Millisecond
	retryMaxWait   = time.Second
)

// retryWhile calls f until it returns an error other than transient, or
// nil, or ctx ends (then ctx's error joins the last one).
func retryWhile(ctx context.Context, transient error, f func() error) error {
	wait := retryFirstWait
	for {
		err := f()
		if !errors.Is(err, transient) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMaxWait)
	}
}

// PromoteLearner makes the learner id a voting member. etcd refuses while
// the learner's log is behind the leader's; PromoteLearner asks again,
// backing off, until etcd accepts or ctx ends. Promoting a voter fails
// with api.ErrConflict, an unknown ID with api.ErrNotFound.
func PromoteLearner(ctx context.Context, c *clientv3.Client, id uint64) error {
	err := retryWhile(ctx, rpctypes.ErrMemberLearnerNotReady, func() error {
		_, err := c.MemberPromote(ctx, id)
		return err
	})
	if errors.Is(err, rpctypes.ErrMemberLearnerNotReady) {
		return fmt.Errorf("store: promote etcd member %s: it has not caught up with the leader: %w", FormatID(id), err)
	}
	return mapMemberErr("promote etcd member "+FormatID(id), err)
}

// LookupMember returns the member whose name, or ID as FormatID prints
// it, is nameOrID. Fails with api.ErrNotFound when no member matches,
// api.ErrInvalid when several do.
func LookupMember(ctx context.Context, c *clientv3.Client, nameOrID string) (Member, error) {
	members, err := ListMembers(ctx, c)
	if err != nil {
		return Member{}, err
	}
	// Names first: a name that happens to look like an ID means the name.
	found := slices.DeleteFunc(slices.Clone(members), func(m Member) bool { return m.Name != nameOrID })
	if len(found) == 0 {
		found = slices.DeleteFunc(members, func(m Member) bool { return FormatID(m.ID) != nameOrID })
	}
	switch len(found) {
	case 0:
		return Member{}, fmt.Errorf("store: etcd member %q: %w: no member has that name or ID", nameOrID, api.ErrNotFound)
	case 1:
		return found[0], nil
	default:
		return Member{}, fmt.Errorf("store: etcd member %q: %w: %d members match; use the ID", nameOrID, api.ErrInvalid, len(found))
	}
}

// RemoveMember removes the member whose name, or ID as FormatID prints it,
// is nameOrID from the cluster c talks to, and returns it. The removed
// member stops; its data directory cannot be used again (to come back it
// is added anew with an empty one). Fails with api.ErrNotFound when no
// member matches; etcd itself refuses a removal that would leave too few
// started members for a majority.
func RemoveMember(ctx context.Context, c *clientv3.Client, nameOrID string) (Member, error) {
	m, err := LookupMember(ctx, c, nameOrID)
	if err != nil {
		return Member{}, fmt.Errorf("store: remove: %w", err)
	}
	if _, err := c.MemberRemove(ctx, m.ID); err != nil {
		return Member{}, mapMemberErr(fmt.Sprintf("remove etcd member %s (%s)", m.Name, FormatID(m.ID)), err)
	}
	return m, nil
}

// LocalMemberIDs returns the IDs of the members serving c's endpoints (the
// member a server's own client talks to).
func LocalMemberIDs(ctx context.Context, c *clientv3.Client) ([]uint64, error) {
	var ids []uint64
	for _, ep := range c.Endpoints() {
		st, err := c.Status(ctx, ep)
		if err != nil {
			return nil, mapMemberErr("status of etcd endpoint "+ep, err)
		}
		ids = append(ids, st.Header.MemberId)
	}
	return ids, nil
}

// mapMemberErr maps etcd's membership errors onto the API's sentinels.
func mapMemberErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rpctypes.ErrMemberNotFound):
		return fmt.Errorf("store: %s: %w: %w", what, api.ErrNotFound, err)
	case errors.Is(err, rpctypes.ErrPeerURLExist), errors.Is(err, rpctypes.ErrMemberExist):
		return fmt.Errorf("store: %s: %w: %w", what, api.ErrExists, err)
	case errors.Is(err, rpctypes.ErrTooManyLearners):
		return fmt.Errorf("store: %s: %w: another member is still a learner; promote or remove it first: %w", what, api.ErrConflict, err)
	case errors.Is(err, rpctypes.ErrMemberNotLearner):
		return fmt.Errorf("store: %s: %w: the member is already a voter: %w", what, api.ErrConflict, err)
	case errors.Is(err, rpctypes.ErrMemberNotEnoughStarted):
		return fmt.Errorf("store: %s: %w: etcd refused: too few members have started for the change to be safe: %w", what, api.ErrConflict, err)
	case errors.Is(err, rpctypes.ErrUnhealthy):
		return fmt.Errorf("store: %s: %w: etcd refused: the change would leave too few started members for a majority (etcd counts a member only once it has been connected for 5 s: after a member (re)started, retry in a few seconds): %w", what, api.ErrConflict, err)
	case errors.Is(err, rpctypes.ErrMemberBadURLs):
		return fmt.Errorf("store: %s: %w: %w", what, api.ErrInvalid, err)
	}
	return mapErr(what, err)
}
