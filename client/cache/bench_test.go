package cache

import (
	"fmt"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/bosun-dev/bosun/store/storetest"
)

// fill puts deployments×replicas pods into inf's cache, as the scale test has
// them: all in namespace "default", each Deployment's pods labelled
// app=web-<d> and pod-template-hash=h<d>, owned by ReplicaSet rs-<d>, spread
// over nodes node-0..node-999.
func fill(b *testing.B, inf *Informer, deployments, replicas int) {
	b.Helper()
	inf.AddIndex(IndexOwnerUID, IndexByOwnerUID)
	inf.AddIndex(IndexNodeName, IndexByNodeName)
	rv := 1
	for d := range deployments {
		for r := range replicas {
			p := newPod("default", fmt.Sprintf("web-%d-%d", d, r), fmt.Sprintf("node-%d", (d*replicas+r)%1000),
				map[string]string{"app": fmt.Sprintf("web-%d", d), "pod-template-hash": fmt.Sprintf("h%d", d)},
				fmt.Sprintf("rs-%d", d))
			rv++
			p.ResourceVersion = strconv.Itoa(rv)
			if err := inf.inf.GetIndexer().Add(p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkInformerList30000 lists one Deployment's 300 pods by namespace and
// selector from a cache of 30,000 pods (100 Deployments × 300 replicas).
func BenchmarkInformerList30000(b *testing.B) {
	inf := NewInformer(nil, storetest.Resource(b, "pods"), nil)
	fill(b, inf, 100, 300)
	cases := []struct {
		name string
		sel  string
		want int
	}{
		{name: "equality", sel: "app=web-17,pod-template-hash=h17", want: 300},
		{name: "in two values", sel: "app in (web-17,web-18)", want: 600},
		{name: "notin (namespace scan)", sel: "app notin (web-17)", want: 29700},
	}
	for _, c := range cases {
		sel, err := labels.Parse(c.sel)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if got := len(inf.List("default", sel)); got != c.want {
					b.Fatalf("List = %d pods, want %d", got, c.want)
				}
			}
		})
	}
	b.Run("ByIndex owner", func(b *testing.B) {
		for b.Loop() {
			if got := len(inf.ByIndex(IndexOwnerUID, "uid-rs-17")); got != 300 {
				b.Fatalf("ByIndex = %d pods, want 300", got)
			}
		}
	})
	b.Run("ByIndex node", func(b *testing.B) {
		for b.Loop() {
			if got := len(inf.ByIndex(IndexNodeName, "node-7")); got != 30 {
				b.Fatalf("ByIndex = %d pods, want 30", got)
			}
		}
	})
}
