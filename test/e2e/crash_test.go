package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
)

// wantBulk is how many ConfigMaps the bulk commits hold.
const wantBulk = 3000

// bulkConfigMaps returns a manifest file of n ConfigMaps in namespace bulk,
// each holding version.
func bulkConfigMaps(n int, version string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bulk\n")
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%05d\n  namespace: bulk\n  labels:\n    bulk: \"yes\"\ndata:\n  version: %q\n", i, version)
	}
	return b.String()
}

// TestKillDuringLargeApply kills the server (SIGKILL) at several moments
// after a commit of 3,000 objects lands, then opens its etcd directly: the
// store must hold either the whole previous commit or the whole new one,
// never a mix, and the restarted server must converge to the new commit.
// The server's log says where each kill landed: before the sync of the
// commit started ("syncing commit"), inside it, or after it was applied
// ("applied commit"); some kills must land inside.
func TestKillDuringLargeApply(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	const n = wantBulk
	r := newRepo(t)
	r.write("bulk/configmaps.yaml", bulkConfigMaps(n, "v0"))
	s := startServer(t, r.dir)
	s.waitAttempt(r.commitAll("bulk v0"), "applied")

	// Measure how long a commit of this size takes from `git commit` to
	// applied, then kill the server at fractions of that time, so that the
	// kills land before, during and after the etcd transaction. The last
	// kills are timed from the moment the log says the sync started, so
	// that some land inside it however the machine's load shifts the
	// timing.
	r.write("bulk/configmaps.yaml", bulkConfigMaps(n, "v1"))
	start := time.Now()
	s.waitAttempt(r.commitAll("bulk v1"), "applied")
	took := time.Since(start)
	t.Logf("a commit of %d objects takes %v from commit to applied", n, took)

	plan := []struct {
		fromSyncStart bool // count the delay from the "syncing commit" log line, not from the commit
		frac          float64
	}{
		{false, 0.1}, {false, 0.4}, {false, 0.6}, {false, 0.75}, {false, 0.85}, {false, 0.95}, {false, 1.05}, {false, 1.3},
		{true, 0}, {true, 0.1}, {true, 0.3},
	}
	prev := "v1"
	outcomes := map[string]int{}
	for i, k := range plan {
		version := fmt.Sprintf("v%d", i+2)
		r.write("bulk/configmaps.yaml", bulkConfigMaps(n, version))
		sha := r.commitAll("bulk " + version)
		if k.fromSyncStart {
			testutil.Eventually(t, 30*time.Second, fmt.Sprintf("the server to start syncing %.8s", sha), func() (bool, string) {
				return testutil.SyncPhase(s.log.String(), sha) != "before", "no \"syncing commit\" line for it yet"
			})
		}
		delay := time.Duration(k.frac * float64(took))
		time.Sleep(delay) // the moment of the crash is the test's input
		s.kill()
		phase := testutil.SyncPhase(s.log.String(), sha)
		what := fmt.Sprintf("kill %d (%v after the commit)", i+1, delay)
		if k.fromSyncStart {
			what = fmt.Sprintf("kill %d (%v after the sync started)", i+1, delay)
		}
		outcomes["kills "+phase+" the sync"]++

		got, synced := inspectStore(t, filepath.Join(s.dataDir, "etcd"))
		switch got {
		case prev:
			outcomes["left the previous commit"]++
			if phase == "after" {
				t.Errorf("%s: the log says commit %.8s was applied but the store holds the previous one", what, sha)
			}
		case version:
			outcomes["left the new commit"]++
			if synced != sha {
				t.Errorf("%s: objects are at %s but the status records commit %.8s, want %.8s", what, version, synced, sha)
			}
			if phase == "before" {
				t.Errorf("%s: the store holds commit %.8s but the log says its sync had not started", what, sha)
			}
		default:
			t.Fatalf("%s: store holds %s, want all %s or all %s", what, got, prev, version)
		}
		t.Logf("%s: landed %s the sync; the store holds %s", what, phase, got)
		s.start()
		s.waitAttempt(sha, "applied")
		prev = version
	}
	t.Logf("outcomes (never a mix): %v", outcomes)
	if outcomes["kills inside the sync"] == 0 {
		t.Errorf("no kill landed inside a sync (between \"syncing commit\" and \"applied commit\"); outcomes: %v", outcomes)
	}
}

// inspectStore opens the etcd data directory of a stopped server and
// returns the version all bulk ConfigMaps hold ("mixed: ..." when they
// differ) and the SHA the sync status records as synced.
func inspectStore(t *testing.T, dir string) (version, synced string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	emb, err := store.StartEmbedded(ctx, store.EmbedConfig{
		DataDir:    dir,
		ClientURL:  fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t)),
		PeerURL:    fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t)),
		TickMs:     10,
		ElectionMs: 100,
	})
	if err != nil {
		t.Fatalf("open the killed server's etcd: %v", err)
	}
	defer emb.Close()
	st := store.New(emb.Client(), emb.StoreOptions())
	r, _ := api.Lookup("configmaps")
	objs, _, err := st.List(ctx, r, "bulk", store.ListOptions{Selector: labels.SelectorFromSet(labels.Set{"bulk": "yes"})})
	if err != nil {
		t.Fatalf("list bulk configmaps: %v", err)
	}
	counts := map[string]int{}
	for _, o := range objs {
		counts[o.(*corev1.ConfigMap).Data["version"]]++
	}
	if len(counts) != 1 {
		version = fmt.Sprintf("mixed: %v", counts)
	} else {
		for v, c := range counts {
			version = v
			if c != wantBulk {
				version = fmt.Sprintf("partial: %d of %s", c, v)
			}
		}
	}
	if ss, err := records.ReadStatus(ctx, st); err == nil && ss.Synced != nil {
		synced = ss.Synced.Commit.SHA
	}
	return version, synced
}

// TestExternalEtcdLimits runs the server against an existing etcd cluster
// (--etcd-endpoints) that has etcd's default limits: a commit needing more
// operations than one transaction may hold is refused with an error naming
// the limit, and nothing of it is written.
func TestExternalEtcdLimits(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	emb, err := store.StartEmbedded(ctx, store.EmbedConfig{
		DataDir:         filepath.Join(t.TempDir(), "etcd"),
		ClientURL:       "http://127.0.0.1:0",
		PeerURL:         "http://127.0.0.1:0",
		TickMs:          10,
		ElectionMs:      100,
		MaxTxnOps:       128,
		MaxRequestBytes: 1536 * 1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()

	r := newRepo(t)
	s := startServer(t, r.dir, "--etcd-endpoints", strings.Join(emb.Endpoints(), ","))
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied")

	r.write("bulk/configmaps.yaml", bulkConfigMaps(300, "v1"))
	st := s.waitAttempt(r.commitAll("300 configmaps"), "rejected")
	if !strings.Contains(st.LastAttempt.Message, "128") || !strings.Contains(st.LastAttempt.Message, "max-txn-ops") {
		t.Errorf("rejection of a commit above etcd's limit does not name the limit: %q", st.LastAttempt.Message)
	}
	var list struct{ Items []object }
	s.getJSON("/api/v1/namespaces/bulk/configmaps", &list)
	if len(list.Items) != 0 {
		t.Errorf("%d configmaps of the refused commit were written", len(list.Items))
	}
}
