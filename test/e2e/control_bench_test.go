package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/sync/state"
)

// roundEnv is the hello container with an environment variable ROUND,
// crash-looping (on hollow nodes) when crash is set.
func roundEnv(round string, crash bool) string {
	s := "          image: bosun.local/hello:v1\n          env:\n            - name: ROUND\n              value: " + round + "\n"
	if crash {
		s += "            - name: BOSUN_FAKE_EXIT_AFTER\n              value: 100ms\n            - name: BOSUN_FAKE_EXIT_CODE\n              value: \"1\"\n"
	}
	return s
}

// BenchmarkSupersedeFailingRollout measures, 10 times on 2 hollow nodes,
// a commit arriving while the previous commit's rollout is failing (its
// pods crash-loop, its progress deadline far off): from `git commit`
// returning to the first pod of the new commit's ReplicaSet created
// (seen through a watch). It reports the median and the slowest. Target:
// median <= 200 ms.
func BenchmarkSupersedeFailingRollout(b *testing.B) {
	testenv.E2E(b, testenv.Binary("git"))
	const rounds = 10
	for b.Loop() {
		r := newRepo(b)
		r.replace("apps/hello/deployment.yaml", "          image: bosun.local/hello:v1\n", roundEnv("start", false))
		s := startServer(b, r.dir)
		s.waitAttempt(r.commitAll("start"), state.ResultApplied)
		startHollow(b, s.url, 2, "hollow-")
		s.waitNodesReady(2)
		s.waitAvailable("demo", "hello", 3)
		c, err := client.New(s.url)
		if err != nil {
			b.Fatal(err)
		}
		pods, _ := api.Lookup("pods")
		prev := roundEnv("start", false)
		var lat []time.Duration
		for i := range rounds {
			bad := roundEnv(fmt.Sprintf("bad-%d", i), true)
			r.replace("apps/hello/deployment.yaml", prev, bad)
			s.waitAttempt(r.commitAll(fmt.Sprintf("round %d: crashes", i)), state.ResultApplied)
			testutil.Eventually(b, 30*time.Second, "the failing rollout's pods", func() (bool, string) {
				return len(podsWithRound(s.pods("demo", "app=hello"), fmt.Sprintf("bad-%d", i))) > 0, "none yet"
			})
			_, rv, err := c.ListAt(b.Context(), pods, "demo", "app=hello")
			if err != nil {
				b.Fatal(err)
			}
			good := roundEnv(fmt.Sprintf("good-%d", i), false)
			r.replace("apps/hello/deployment.yaml", bad, good)
			r.commitAll(fmt.Sprintf("round %d: fixed", i))
			start := time.Now()
			ctx, cancel := context.WithTimeout(b.Context(), 20*time.Second)
			seen := errors.New("seen")
			err = c.Watch(ctx, pods, "demo", "app=hello", rv, func(ev client.Event) error {
				if p, ok := ev.Object.(*corev1.Pod); ok && len(podsWithRound([]*corev1.Pod{p}, fmt.Sprintf("good-%d", i))) > 0 {
					return seen
				}
				return nil
			})
			cancel()
			if !errors.Is(err, seen) {
				b.Fatalf("round %d: no pod of the fix within 20 s: %v", i, err)
			}
			lat = append(lat, time.Since(start))
			prev = good
			s.waitAvailable("demo", "hello", 3)
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		s.kill()
	}
}

// podsWithRound returns the pods whose container has ROUND=round.
func podsWithRound(ps []*corev1.Pod, round string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range ps {
		for _, e := range p.Spec.Containers[0].Env {
			if e.Name == "ROUND" && strings.TrimSpace(e.Value) == round {
				out = append(out, p)
			}
		}
	}
	return out
}
