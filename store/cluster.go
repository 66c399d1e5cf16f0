package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/etcdserver/api/membership"
	etcderrors "go.etcd.io/etcd/server/v3/etcdserver/errors"
	"go.etcd.io/etcd/server/v3/storage/wal"

	"github.com/bosun-dev/bosun/api"
)

// ClusterSettingsKey is the etcd key of the settings every server of the
// cluster shares (api.ClusterSettings as JSON), written once by the first
// server that starts on an empty store.
const ClusterSettingsKey = "/bosun/config/cluster"

// LoadClusterSettings returns the settings stored at ClusterSettingsKey,
// and whether there are any.
func LoadClusterSettings(ctx context.Context, c *clientv3.Client) (api.ClusterSettings, bool, error) {
	resp, err := c.Get(ctx, ClusterSettingsKey)
	if err != nil {
		return api.ClusterSettings{}, false, mapErr("read the cluster settings", err)
	}
	if len(resp.Kvs) == 0 {
		return api.ClusterSettings{}, false, nil
	}
	var s api.ClusterSettings
	if err := json.Unmarshal(resp.Kvs[0].Value, &s); err != nil {
		return api.ClusterSettings{}, false, fmt.Errorf("store: decode the cluster settings at %s: %w", ClusterSettingsKey, err)
	}
	return s, true, nil
}

// InitClusterSettings stores s at ClusterSettingsKey unless settings are
// stored there already (one transaction: of servers starting together,
// one wins), and returns the settings stored and whether they are s, just
// written.
func InitClusterSettings(ctx context.Context, c *clientv3.Client, s api.ClusterSettings) (api.ClusterSettings, bool, error) {
	val, err := json.Marshal(s)
	if err != nil {
		return api.ClusterSettings{}, false, fmt.Errorf("store: encode the cluster settings: %w", err)
	}
	resp, err := c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(ClusterSettingsKey), "=", 0)).
		Then(clientv3.OpPut(ClusterSettingsKey, string(val))).
		Else(clientv3.OpGet(ClusterSettingsKey)).
		Commit()
	if err != nil {
		return api.ClusterSettings{}, false, mapErr("store the cluster settings", err)
	}
	if resp.Succeeded {
		return s, true, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return api.ClusterSettings{}, false, fmt.Errorf("store: the cluster settings at %s: %w: gone while read", ClusterSettingsKey, api.ErrConflict)
	}
	var stored api.ClusterSettings
	if err := json.Unmarshal(kvs[0].Value, &stored); err != nil {
		return api.ClusterSettings{}, false, fmt.Errorf("store: decode the cluster settings at %s: %w", ClusterSettingsKey, err)
	}
	return stored, false, nil
}

// MemberDataExists reports whether dataDir (an EmbedConfig.DataDir) holds
// an etcd member already: its write-ahead log exists. A member's
// InitialCluster and ClusterState are read only when it does not.
func MemberDataExists(dataDir string) bool {
	return wal.Exist(filepath.Join(dataDir, "member", "wal"))
}

// IsLearner reports whether this member is a learner (added with
// AddLearner and not promoted yet). A learner's client port answers only
// status requests and serializable reads. A member removed from the
// cluster is none.
func (e *Embedded) IsLearner() bool {
	learner, _ := e.role()
	return learner
}

// role reports whether this member is a learner, and whether it is in
// the cluster at all (its own view of the membership).
func (e *Embedded) role() (learner, member bool) {
	// Not Server.IsLearner: it panics once this member has been removed.
	m := e.etcd.Server.Cluster().Member(e.etcd.Server.MemberID())
	if m == nil {
		return false, false
	}
	return m.IsLearner, true
}

// PromoteSelf makes this member, a learner, a voter. A learner's own
// client port refuses membership requests, so it asks the cluster's leader
// over the peer connection (etcd's member promote, as a learner forwards
// it). The leader refuses while this member's log is behind its own;
// PromoteSelf asks again every interval (0: 500 ms) until the leader
// accepts, or ctx ends (the error then says why the last attempt failed).
// It returns once this member sees itself a voter; a voter returns nil at
// once. A member removed meanwhile fails with api.ErrNotFound.
func (e *Embedded) PromoteSelf(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	id := e.ID()
	var last error
	for {
		learner, member := e.role()
		if !member {
			return fmt.Errorf("store: promote etcd member %s (%s): %w: it was removed from the cluster", e.Name(), FormatID(id), api.ErrNotFound)
		}
		if !learner {
			return nil
		}
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := e.etcd.Server.PromoteMember(attempt, id)
		cancel()
		switch {
		case err == nil, errors.Is(err, membership.ErrMemberNotLearner):
			// Promoted: wait below until this member applied it.
			last = nil
		case errors.Is(err, membership.ErrIDNotFound):
			return fmt.Errorf("store: promote etcd member %s (%s): %w: it was removed from the cluster", e.Name(), FormatID(id), api.ErrNotFound)
		case errors.Is(err, etcderrors.ErrLearnerNotReady):
			last = fmt.Errorf("it has not caught up with the leader's log yet: %w", err)
		default:
			last = err
		}
		wait := interval
		if last == nil {
			wait = 10 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = errors.New("promoted, but this member has not applied its promotion yet")
			}
			return fmt.Errorf("store: promote etcd member %s (%s): %w (gave up: %w)", e.Name(), FormatID(id), last, ctx.Err())
		case <-time.After(wait):
		}
	}
}
