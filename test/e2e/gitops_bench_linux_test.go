package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// BenchmarkPushToServing measures, on a real node, the time from `git
// push` of a commit that changes the image of a 10-replica Deployment
// until all 10 new pods are Ready and the ClusterIP answers only the new
// version (20 requests in a row), median of 10 pushes alternating v1 and
// v2. The Deployment uses Kubernetes' default rollout (maxSurge and
// maxUnavailable 25%) and a readiness probe every second.
func BenchmarkPushToServing(b *testing.B) {
	for b.Loop() {
		r := newRemote(b)
		r.push("hello v1", gitopsDeployment("bosun.local/hello:v1", 10))
		h := newNodeHost(b, r.bare)
		h.waitRollout("bosun.local/hello:v1", 10)
		if out, err := h.host.Command(context.Background(), "ip", "route", "add", h.serviceCIDR, "dev", "bosun0").CombinedOutput(); err != nil {
			b.Fatalf("route the service range: %v: %s", err, out)
		}
		svc, err := h.client().Get(context.Background(), resource(b, "services"), "demo", "hello")
		if err != nil {
			b.Fatal(err)
		}
		url := "http://" + svc.(*corev1.Service).Spec.ClusterIP + "/"
		var lat []time.Duration
		for i := range 10 {
			version := []string{"v2", "v1"}[i%2]
			image := "bosun.local/hello:" + version
			start := time.Now()
			r.push("hello "+version, gitopsDeployment(image, 10))
			h.waitRollout(image, 10)
			testutil.Eventually(b, 30*time.Second, "only "+version+" answering", func() (bool, string) {
				for range 20 {
					body, err := h.get(url)
					if err != nil || !strings.Contains(body, "(version "+version+")") {
						return false, fmt.Sprint(body, err)
					}
				}
				return true, ""
			})
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(ms(lat[len(lat)/2]), "median-ms")
		b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	}
}
