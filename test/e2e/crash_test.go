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

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/sync/state"
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
func TestKillDuringLargeApply(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	const n = wantBulk
	r := newRepo(t)
	r.write("bulk/configmaps.yaml", bulkConfigMaps(n, "v0"))
	s := startServer(t, r.dir)
	s.waitAttempt(r.commitAll("bulk v0"), "applied")

	prev := "v0"
	outcomes := map[string]int{}
	for i, delay := range []time.Duration{0, 30 * time.Millisecond, 80 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond} {
		version := fmt.Sprintf("v%d", i+1)
		r.write("bulk/configmaps.yaml", bulkConfigMaps(n, version))
		sha := r.commitAll("bulk " + version)
		time.Sleep(delay) // the moment of the crash is the test's input
		s.kill()

		got, synced := inspectStore(t, filepath.Join(s.dataDir, "etcd"))
		switch got {
		case prev:
			outcomes["before"]++
		case version:
			outcomes["after"]++
			if synced != sha {
				t.Errorf("kill after %v: objects are at %s but the status records commit %.8s, want %.8s", delay, version, synced, sha)
			}
		default:
			t.Fatalf("kill after %v: store holds %s, want all %s or all %s", delay, got, prev, version)
		}
		s.start()
		s.waitAttempt(sha, "applied")
		prev = version
	}
	t.Logf("kills that left the previous commit: %d; the new commit: %d (never a mix)", outcomes["before"], outcomes["after"])
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
		ClientURL:  fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		PeerURL:    fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		TickMs:     10,
		ElectionMs: 100,
	})
	if err != nil {
		t.Fatalf("open the killed server's etcd: %v", err)
	}
	defer emb.Close()
	st := store.New(emb.Client(), store.Options{})
	r, _ := store.Lookup("configmaps")
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
	if ss, err := state.ReadStatus(ctx, st); err == nil && ss.Synced != nil {
		synced = ss.Synced.Commit.SHA
	}
	return version, synced
}
