package syncer_test

import (
	"fmt"
	"testing"

	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// manyManifests returns n files: Deployments and Services in turn. The
// Deployments run gen replicas and the Services carry gen in a label, so two
// calls with different gen differ in every object.
func manyManifests(n int, gen int) map[string]string {
	files := make(map[string]string, n)
	for i := range n {
		name := fmt.Sprintf("app-%04d", i)
		if i%2 == 0 {
			files[fmt.Sprintf("deploy/%s/deployment.yaml", name)] = deployment(name, gen)
		} else {
			files[fmt.Sprintf("deploy/%s/service.yaml", name)] = fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  labels: {generation: "%d"}
spec:
  selector: {app: app-%04d}
  ports:
  - port: 80
    targetPort: 8080
`, name, gen, i-1)
		}
	}
	return files
}

// BenchmarkSyncCommit1000 measures one commit of 1,000 manifests in a
// local Git repository: read the tree, decode, validate, and apply it to
// embedded etcd in one transaction. Each iteration applies a commit that
// changes every object: the 500 Deployments' replicas and the 500
// Services' generation label. Target: <= 2 s.
func BenchmarkSyncCommit1000(b *testing.B) {
	s := storetest.Start(b)
	g := newGitRepo(b)
	sy := syncer.New(syncer.Config{Source: localSource(b, g.dir), Store: s, Path: "deploy"})
	gen := 1
	g.commit("initial", manyManifests(1000, gen))
	if _, err := sy.SyncOnce(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		gen++
		sha := g.commit("change everything", manyManifests(1000, gen))
		b.StartTimer()
		att, err := sy.SyncOnce(b.Context())
		if err != nil || att.Result != state.ResultApplied || att.Commit.SHA != sha || att.Updated != 1000 {
			b.Fatalf("sync: %+v %v", att, err)
		}
	}
}

// BenchmarkPollUnchanged measures a poll that finds nothing new: read the
// branch head of a local repository and compare. Target: <= 20 ms.
func BenchmarkPollUnchanged(b *testing.B) {
	s := storetest.Start(b)
	g := newGitRepo(b)
	sy := syncer.New(syncer.Config{Source: localSource(b, g.dir), Store: s, Path: "deploy"})
	g.commit("initial", manyManifests(1000, 1))
	if _, err := sy.SyncOnce(b.Context()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		att, err := sy.SyncOnce(b.Context())
		if err != nil || att.Commit.SHA != "" {
			b.Fatalf("poll: %+v %v", att, err)
		}
	}
}
