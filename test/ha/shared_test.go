package ha

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile/leader"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// TestSharedEtcd runs three servers on the first one's etcd (--cluster-init
// there, --etcd-endpoints with its client credential on the others) and
// checks, in order on the same cluster: a commit is applied exactly once,
// a sync leader paused past its lease applies nothing stale once resumed,
// and a snapshot of the cluster restored into a fresh single server holds
// the same objects.
func TestSharedEtcd(t *testing.T) {
	c := startShared(t, 3)
	c.waitSynced(c.servers[0], c.head(), syncTimeout)

	// Stages on one cluster, in order, rather than subtests: the harness
	// fails the test that started the servers.
	stage(t, "commit applied once", func() { c.checkAppliedOnce(t) })
	stage(t, "paused sync leader applies nothing stale", func() {
		// Pausing the first server would pause the etcd every server uses:
		// hand the sync loop to another one first.
		if l := c.waitSyncLeader(syncTimeout); l == c.servers[0] {
			c.handOffSync(l)
		}
		c.checkPausedLeader(t)
	})
	stage(t, "snapshot restored into a fresh server", func() { c.checkSnapshotRestore(t) })
}

// head is the SHA of the repository's branch head.
func (c *cluster) head() string {
	c.t.Helper()
	out, err := exec.Command("git", "-C", c.repo, "rev-parse", "HEAD").CombinedOutput()
	if err != nil {
		c.t.Fatalf("git rev-parse HEAD: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// handOffSync makes s give up the sync election by deleting its key, as an
// operator (or a lost lease) would: s campaigns again behind the others.
func (c *cluster) handOffSync(s *server) {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := c.etcd.Get(ctx, leader.KeyPrefix+syncer.ElectionName+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		c.t.Fatalf("read the sync leader's key: %v (%d keys)", err, len(resp.Kvs))
	}
	if _, err := c.etcd.Delete(ctx, string(resp.Kvs[0].Key)); err != nil {
		c.t.Fatal(err)
	}
	c.waitSyncLeader(syncTimeout, s)
}

// appliedEntries counts the history entries saying that commit sha was
// applied.
func (c *cluster) appliedEntries(sha string) int {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	hist, err := records.ReadHistory(ctx, c.store, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	n := 0
	for _, a := range hist {
		if a.Commit.SHA == sha && a.Result == state.ResultApplied {
			n++
		}
	}
	return n
}

// writes returns how many times the object of resource at name (default
// namespace) was written since it was created: etcd's version of its key.
func (c *cluster) writes(resource, name string) int64 {
	c.t.Helper()
	r, _ := api.Lookup(resource)
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := c.etcd.Get(ctx, c.store.Key(r, "default", name))
	if err != nil || len(resp.Kvs) != 1 {
		c.t.Fatalf("read %s %s from etcd: %v (%d keys)", resource, name, err, len(resp.Kvs))
	}
	return resp.Kvs[0].Version
}

// checkAppliedOnce commits a new ConfigMap and checks that every server
// serves it, that the history records one application of the commit and
// that etcd wrote the object once, also after a later commit.
func (c *cluster) checkAppliedOnce(t *testing.T) {
	sha := c.commit("add once", map[string]string{"apps/once.yaml": configMap("once", "1")})
	for _, s := range c.others() {
		c.waitSynced(s, sha, syncTimeout)
		cm, err := get[*corev1.ConfigMap](c, s, "configmaps", "once")
		if err != nil || cm.Data["value"] != "1" || cm.Annotations[api.AnnotationCommit] != sha {
			t.Fatalf("%s serves ConfigMap once = %+v, %v; want value 1 from commit %.8s", s.name, cm, err, sha)
		}
	}
	// A later commit synced proves the loop went on past sha: any second
	// application of it would be recorded by now.
	later := c.commit("change marker", map[string]string{"apps/marker.yaml": configMap("marker", "once")})
	c.waitSynced(c.servers[0], later, syncTimeout)
	for _, tc := range []struct {
		sha  string
		want int
	}{{sha, 1}, {later, 1}} {
		if n := c.appliedEntries(tc.sha); n != tc.want {
			t.Errorf("history: commit %.8s applied %d times, want %d", tc.sha, n, tc.want)
		}
	}
	if v := c.writes("configmaps", "once"); v != 1 {
		t.Errorf("ConfigMap once written %d times in etcd, want 1", v)
	}
}

// statusLog records every value the sync status takes in etcd from the
// moment it starts, in order.
type statusLog struct {
	mu     sync.Mutex
	values []state.Status
	err    error
}

// watchStatus starts recording the sync status until the test ends.
func (c *cluster) watchStatus() *statusLog {
	c.t.Helper()
	l := &statusLog{}
	ctx, cancel := c.ctx()
	defer cancel()
	rev, err := c.store.Revision(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	c.t.Cleanup(stop)
	wch := c.etcd.Watch(wctx, records.StatusKey, clientv3.WithRev(rev+1))
	go func() {
		for wr := range wch {
			l.mu.Lock()
			if err := wr.Err(); err != nil && l.err == nil && wctx.Err() == nil {
				l.err = err
			}
			for _, ev := range wr.Events {
				var st state.Status
				if err := json.Unmarshal(ev.Kv.Value, &st); err != nil && l.err == nil {
					l.err = fmt.Errorf("status at revision %d: %w", ev.Kv.ModRevision, err)
				}
				l.values = append(l.values, st)
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// check returns what is wrong with the recorded statuses given the commits
// in the order they were made: a synced commit or an attempt older than one
// seen before is a step back.
func (l *statusLog) check(commits []string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err.Error()
	}
	var problems []string
	synced, attempted := -1, -1
	for i, st := range l.values {
		if st.Synced != nil {
			n := slices.Index(commits, st.Synced.Commit.SHA)
			if n < synced {
				problems = append(problems, fmt.Sprintf("status %d: synced commit %.8s after %.8s", i, st.Synced.Commit.SHA, commits[synced]))
			}
			synced = max(synced, n)
		}
		// An attempt that failed before it read the branch names no commit.
		if st.LastAttempt != nil && st.LastAttempt.Commit.SHA != "" {
			n := slices.Index(commits, st.LastAttempt.Commit.SHA)
			if n < attempted {
				problems = append(problems, fmt.Sprintf("status %d: attempt of commit %.8s after %.8s", i, st.LastAttempt.Commit.SHA, commits[attempted]))
			}
			attempted = max(attempted, n)
		}
	}
	return strings.Join(problems, "; ")
}

// checkPausedLeader pauses the sync leader (SIGSTOP) as it starts syncing
// a commit, keeps it paused past its lease while another server takes over
// and syncs that commit and a later one, then resumes it. The resumed
// server must notice it lost the election and write nothing: the status
// never goes back to an older commit, each commit is applied once, and
// every server serves the newest commit's object.
func (c *cluster) checkPausedLeader(t *testing.T) {
	old := c.waitSyncLeader(syncTimeout)
	statuses := c.watchStatus()
	commits := []string{c.head()}

	commits = append(commits, c.commit("pause v2", map[string]string{"apps/paused.yaml": configMap("paused", "2")}))
	old.pause() // at once: the leader is likely between reading the commit and writing it
	paused := time.Now()
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			old.resume()
		}
	})
	next := c.waitSyncLeader(syncTimeout, old)
	t.Logf("%s paused; %s leads the sync loop %.1f s later", old.name, next.name, time.Since(paused).Seconds())
	c.waitSynced(next, commits[1], syncTimeout)
	commits = append(commits, c.commit("pause v3", map[string]string{"apps/paused.yaml": configMap("paused", "3")}))
	c.waitSynced(next, commits[2], syncTimeout)

	before := len(old.logs())
	old.resume()
	resumed = true
	// It campaigns again once its term's sync loop has returned, whatever
	// stopped it first (the lost lease, a fenced write, a cancelled call).
	testutil.EventuallyEvery(t, syncTimeout, 50*time.Millisecond, old.name+" to campaign again for the sync election", func() (bool, string) {
		for _, line := range strings.Split(old.logs()[before:], "\n") {
			if strings.Contains(line, "election=sync") && strings.Contains(line, "campaigning") {
				return true, ""
			}
		}
		return false, "not logged yet"
	})
	// A commit after the resume: the resumed server is a standby now.
	commits = append(commits, c.commit("pause v4", map[string]string{"apps/paused.yaml": configMap("paused", "4")}))
	for _, s := range c.others() {
		c.waitSynced(s, commits[3], syncTimeout)
		cm, err := get[*corev1.ConfigMap](c, s, "configmaps", "paused")
		if err != nil || cm.Data["value"] != "4" || cm.Annotations[api.AnnotationCommit] != commits[3] {
			t.Errorf("%s serves ConfigMap paused = %v, %v; want value 4 from commit %.8s", s.name, cm.Data, err, commits[3])
		}
	}
	if l, err := c.syncLeader(); err != nil || l == old {
		t.Errorf("sync leader after the resume = %v, %v; want a server other than the paused %s", l, err, old.name)
	}
	if p := statuses.check(commits); p != "" {
		t.Errorf("the sync status went back: %s", p)
	}
	for _, sha := range commits[1:] {
		if n := c.appliedEntries(sha); n != 1 {
			t.Errorf("history: commit %.8s applied %d times, want 1", sha, n)
		}
	}
	for _, line := range strings.Split(old.logs()[before:], "\n") {
		if strings.Contains(line, "applied commit") {
			t.Errorf("%s applied a commit after it was resumed: %s", old.name, line)
		}
	}
}

// objectIDs returns "resource namespace/name uid" for every object of the
// resources that sync and the controllers write, as s's API lists them.
func (c *cluster) objectIDs(s *server) []string {
	c.t.Helper()
	var ids []string
	for _, res := range []string{"configmaps", "deployments", "replicasets", "pods", "nodes", "services"} {
		for _, o := range list[api.Object](c, s, res, "") {
			ids = append(ids, fmt.Sprintf("%s %s/%s %s", res, o.GetNamespace(), o.GetName(), o.GetUID()))
		}
	}
	slices.Sort(ids)
	return ids
}

// checkSnapshotRestore runs hollow nodes so that the controllers make pods,
// saves a snapshot of the cluster's etcd with bosun etcd snapshot save,
// restores it into a fresh data directory and starts a single server there:
// it must serve the same objects, with the same UIDs (a re-sync from Git
// would make new ones).
func (c *cluster) checkSnapshotRestore(t *testing.T) {
	via := c.servers[1]
	c.hollow(via, 2)
	testutil.EventuallyEvery(t, syncTimeout, 100*time.Millisecond, "Deployment web to be available on hollow nodes", func() (bool, string) {
		d, err := get[*appsv1.Deployment](c, via, "deployments", "web")
		if err != nil {
			return false, err.Error()
		}
		return d.Status.AvailableReplicas == 2, fmt.Sprintf("%d of 2 replicas available", d.Status.AvailableReplicas)
	})
	want := c.objectIDs(via)
	pods := 0
	for _, id := range want {
		if strings.HasPrefix(id, "pods ") {
			pods++
		}
	}
	if pods != 2 {
		t.Fatalf("%d pods before the snapshot, want web's 2: %v", pods, want)
	}

	first := c.servers[0]
	snap := filepath.Join(t.TempDir(), "bosun.db")
	out := first.bosun("etcd", "snapshot", "save", snap, "--data-dir", first.dataDir, "--etcd-client-url", first.etcdClientURL)
	t.Logf("%s", out)
	if got := c.objectIDs(via); !slices.Equal(got, want) {
		t.Fatalf("objects changed while the snapshot was taken: before %v, after %v", want, got)
	}

	restored := newServer(t, "restored", c.repo)
	restored.etcdClientURL, restored.etcdPeerURL = loopbackURL(t, "http"), loopbackURL(t, "http")
	restored.bosun("etcd", "snapshot", "restore", snap, "--data-dir", restored.dataDir, "--etcd-peer-url", restored.etcdPeerURL)
	restored.args = append(restored.args, "--etcd-client-url", restored.etcdClientURL, "--etcd-peer-url", restored.etcdPeerURL)
	restored.start()
	if got := c.objectIDs(restored); !slices.Equal(got, want) {
		t.Errorf("restored server's objects differ from the cluster's:\n got %v\nwant %v", got, want)
	}
	st, err := restored.client.Status(context.Background())
	if err != nil || st.Synced == nil || st.Synced.Commit.SHA != c.head() {
		t.Errorf("restored server's status = %+v, %v; want commit %.8s synced", st.Synced, err, c.head())
	}
}
