package syncer_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/bosun-dev/bosun/audit"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// TestSyncAudited: an applied and a rejected commit each leave one audit
// line (verb sync) naming the commit and the result.
func TestSyncAudited(t *testing.T) {
	s := storetest.Start(t)
	g := newGitRepo(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	log, err := audit.New(audit.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Repo: "test", Path: "deploy",
		Audit: log, Recorder: eventstest.Recorder(t, s, "bosun-sync")})
	good := g.commit("web", map[string]string{"deploy/web.yaml": deployment("web", 2)})
	mustSync(t, sy, good, state.ResultApplied)
	bad := g.commit("broken", map[string]string{"deploy/web.yaml": "kind: Deployment\n"})
	mustSync(t, sy, bad, state.ResultRejected)
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type line struct {
		Verb   string `json:"verb"`
		Result string `json:"result"`
		Commit struct {
			SHA string `json:"sha"`
		} `json:"commit"`
	}
	var got []line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		got = append(got, l)
	}
	if len(got) != 2 || got[0].Verb != "sync" || got[0].Result != state.ResultApplied || got[0].Commit.SHA != good ||
		got[1].Result != state.ResultRejected || got[1].Commit.SHA != bad {
		t.Fatalf("audit lines = %+v; want applied %.8s then rejected %.8s", got, good, bad)
	}
}
