package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/sync/state"
)

// BenchmarkCommitToAPI measures, for 20 commits in a local repository
// (made with the git CLI as a user would), the time from `git commit`
// returning to the new desired state being visible through the API of a
// running bosun server (a watch event carrying the new commit). It reports
// the median and the slowest. Target: median <= 200 ms.
func BenchmarkCommitToAPI(b *testing.B) {
	testenv.E2E(b, testenv.Binary("git"))
	const commits = 20
	for b.Loop() {
		r := newRepo(b)
		s := startServer(b, r.dir)
		s.waitAttempt(r.git("rev-parse", "HEAD"), state.ResultApplied)
		c, err := client.New(s.url)
		if err != nil {
			b.Fatal(err)
		}
		deploy, _ := api.Lookup("deployments")
		var lat []time.Duration
		for i := range commits {
			_, rv, err := c.ListAt(b.Context(), deploy, "demo", "")
			if err != nil {
				b.Fatal(err)
			}
			r.replace("apps/hello/deployment.yaml", fmt.Sprintf("replicas: %d", 3+i), fmt.Sprintf("replicas: %d", 4+i))
			sha := r.commitAll(fmt.Sprintf("replicas %d", 4+i))
			start := time.Now()
			ctx, cancel := context.WithTimeout(b.Context(), 10*time.Second)
			errSeen := errors.New("seen")
			err = c.Watch(ctx, deploy, "demo", "", rv, func(ev client.Event) error {
				if ev.Object.GetAnnotations()[api.AnnotationCommit] == sha {
					return errSeen
				}
				return nil
			})
			cancel()
			if !errors.Is(err, errSeen) {
				b.Fatalf("commit %d (%.8s) not seen through the API: %v", i, sha, err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		s.kill()
	}
}
