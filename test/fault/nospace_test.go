package fault

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// bigConfigMaps returns n ConfigMaps in namespace fill, each holding about
// size bytes that differ with version, so that every commit rewrites them.
func bigConfigMaps(n, size int, version string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: fill\n")
	pad := strings.Repeat(version+"-", size/(len(version)+1))
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big-%02d\n  namespace: fill\ndata:\n  version: %q\n  pad: %q\n", i, version, pad)
	}
	return b.String()
}

// TestEtcdNoSpace runs the server with a 12 MiB etcd quota
// (--etcd-quota-backend-bytes) and commits ~1 MiB rewrites until etcd
// raises its NOSPACE alarm. Then the failed attempt and `bosun status` must
// say that the store is out of space, reads through the API must keep
// working, and after compaction, defragmentation and disarming the alarm
// (what `etcdctl compact`, `defrag` and `alarm disarm` do) a new commit
// must be applied.
func TestEtcdNoSpace(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	const quota = 12 << 20
	r := newRepo(t, "fill.yaml", bigConfigMaps(8, 120<<10, "v0"))
	s := startServer(t, r.dir, "--etcd-quota-backend-bytes", fmt.Sprint(quota))
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied", 60*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{s.etcdURL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("connect to the server's etcd: %v", err)
	}
	defer cli.Close()

	var alarms *clientv3.AlarmResponse
	var fullSHA string
	commits := 0
	for i := 1; i <= 60 && fullSHA == ""; i++ {
		version := fmt.Sprintf("v%d", i)
		r.write("fill.yaml", bigConfigMaps(8, 120<<10, version))
		sha := r.commitAll(version)
		commits++
		var st syncStatus
		if !pollFor(30*time.Second, func() bool {
			if alarms, err = cli.AlarmList(ctx); err != nil {
				t.Fatalf("etcd alarm list: %v", err)
			}
			if len(alarms.Alarms) > 0 {
				fullSHA = sha
				return true
			}
			st = s.status()
			return st.LastAttempt != nil && st.LastAttempt.Commit.SHA == sha && st.LastAttempt.Result == "applied"
		}) {
			t.Fatalf("commit %d (%.8s) was neither applied nor raised an etcd alarm in 30s; status %+v", i, sha, st.LastAttempt)
		}
	}
	if fullSHA == "" {
		t.Fatalf("%d commits of ~1 MiB never filled a %d-byte quota", commits, quota)
	}
	t.Logf("commit %d (%.8s) raised etcd's alarms %v", commits, fullSHA, alarms.Alarms)
	// The sync of that commit fails, and its record cannot be written
	// either (every write is refused): the status must carry etcd's alarm,
	// and bosun status say it.
	time.Sleep(2 * time.Second) // let the syncer try (and retry) the commit the alarm refused
	st := s.status()
	out, code := s.bosun("status")
	t.Logf("with the alarm raised, the last attempt is %+v; bosun status (exit %d) says:\n%s", st.LastAttempt, code, out)
	t.Run("status says out of space", func(t *testing.T) {
		if len(st.StoreAlarms) == 0 || !mentionsNoSpace(st.StoreAlarms[0]) {
			t.Errorf("the sync status carries no NOSPACE alarm: %q", st.StoreAlarms)
		}
		if !mentionsNoSpace(strings.ReplaceAll(out, r.dir, "REPO")) { // the repository's path names the test
			t.Errorf("bosun status does not say the store is out of space:\n%s", out)
		}
	})

	// Reads keep working.
	var list struct{ Items []struct{} }
	if code := s.getJSON("/api/v1/namespaces/fill/configmaps", &list); code != 200 || len(list.Items) != 8 {
		t.Errorf("reading configmaps with the alarm raised: HTTP %d, %d items; want 200 and 8", code, len(list.Items))
	}
	if !s.alive() {
		t.Fatalf("the server exited with the alarm raised")
	}

	// Recover as an operator does with etcdctl: compact to the current
	// revision, defragment, disarm.
	stat, err := cli.Status(ctx, s.etcdURL())
	if err != nil {
		t.Fatalf("etcd status: %v", err)
	}
	if _, err := cli.Compact(ctx, stat.Header.Revision, clientv3.WithCompactPhysical()); err != nil && !strings.Contains(err.Error(), "compacted") {
		t.Fatalf("etcd compact: %v", err)
	}
	if _, err := cli.Defragment(ctx, s.etcdURL()); err != nil {
		t.Fatalf("etcd defrag: %v", err)
	}
	if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{Alarm: alarms.Alarms[0].Alarm, MemberID: alarms.Alarms[0].MemberID}); err != nil {
		t.Fatalf("etcd alarm disarm: %v", err)
	}
	r.write("fill.yaml", bigConfigMaps(8, 120<<10, "recovered"))
	s.waitAttempt(r.commitAll("after the alarm"), "applied", 60*time.Second)
	t.Logf("RESULT nospace commits-to-alarm=%d quota=%d recovered=1", commits, quota)
}

// mentionsNoSpace reports whether a message says the store is out of space.
func mentionsNoSpace(msg string) bool {
	m := strings.ToLower(msg)
	for _, w := range []string{"no space", "out of space", "space exceeded", "nospace", "quota"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}
