package kustomize

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bosun-dev/bosun/manifests"
)

// benchTree is a base of 10 Deployments and 10 Services and n overlays,
// each with a namePrefix, a namespace, an images: entry and a strategic
// merge patch: 20*n objects in all.
func benchTree(n int) (fstest.MapFS, []string) {
	fsys := fstest.MapFS{}
	var deps, svcs strings.Builder
	for i := range 10 {
		fmt.Fprintf(&deps, `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app%d
spec:
  replicas: 1
  selector:
    matchLabels: {app: app%d}
  template:
    metadata:
      labels: {app: app%d}
    spec:
      containers:
        - name: main
          image: registry.local/app%d:1.0
          ports:
            - containerPort: 8080
`, i, i, i, i)
		fmt.Fprintf(&svcs, `---
apiVersion: v1
kind: Service
metadata:
  name: app%d
spec:
  selector: {app: app%d}
  ports:
    - port: 80
      targetPort: 8080
`, i, i)
	}
	fsys["base/kustomization.yaml"] = &fstest.MapFile{Data: []byte("resources:\n  - deployments.yaml\n  - services.yaml\n")}
	fsys["base/deployments.yaml"] = &fstest.MapFile{Data: []byte(deps.String())}
	fsys["base/services.yaml"] = &fstest.MapFile{Data: []byte(svcs.String())}
	dirs := []string{"base"}
	for o := range n {
		dir := fmt.Sprintf("overlays/o%02d", o)
		fsys[dir+"/kustomization.yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(`namePrefix: o%02d-
namespace: team%02d
resources:
  - ../../base
patches:
  - path: scale.yaml
images:
  - name: registry.local/app0
    newTag: "2.%d"
`, o, o, o))}
		fsys[dir+"/scale.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app0\nspec:\n  replicas: 3\n")}
		dirs = append(dirs, dir)
	}
	return fsys, dirs
}

// plainTree is the rendered objects as plain YAML files, one per overlay.
func plainTree(b *testing.B, objs []manifests.Rendered) fstest.MapFS {
	files := map[string]*strings.Builder{}
	for _, o := range objs {
		f := strings.TrimSuffix(o.RenderedBy, "/kustomization.yaml") + "/objects.yaml"
		if files[f] == nil {
			files[f] = &strings.Builder{}
		}
		files[f].WriteString("---\n")
		files[f].Write(o.Data)
	}
	fsys := fstest.MapFS{}
	for f, s := range files {
		fsys[f] = &fstest.MapFile{Data: []byte(s.String())}
	}
	return fsys
}

// BenchmarkRender50Overlays renders 50 overlays over one base (1,000
// objects). Compare with BenchmarkLoadPlain1000 (the same objects as
// plain YAML through manifests.Load): render + validate costs about the
// sum of both.
func BenchmarkRender50Overlays(b *testing.B) {
	fsys, dirs := benchTree(50)
	r := New(Options{})
	cpu := startCPU()
	for b.Loop() {
		objs, probs, err := r.Render(fsys, dirs)
		if err != nil || len(probs) != 0 || len(objs) != 1000 {
			b.Fatalf("%d objects, problems %v, err %v", len(objs), probs, err)
		}
	}
	cpu.report(b)
}

// BenchmarkLoadPlain1000 decodes, defaults and validates the 1,000
// objects BenchmarkRender50Overlays renders, as plain YAML files.
func BenchmarkLoadPlain1000(b *testing.B) {
	fsys, dirs := benchTree(50)
	objs, _, err := New(Options{}).Render(fsys, dirs)
	if err != nil {
		b.Fatal(err)
	}
	plain := plainTree(b, objs)
	cpu := startCPU()
	for b.Loop() {
		res, err := manifests.Load(plain, manifests.Options{})
		if err != nil || len(res.Objects) != 1000 {
			b.Fatalf("%v objects, err %v", res, err)
		}
	}
	cpu.report(b)
}

// cpuStart is the process's CPU time when a benchmark's loop started.
type cpuStart struct {
	at time.Duration
	ok bool
}

func startCPU() cpuStart {
	at, ok := cpuTime()
	return cpuStart{at: at, ok: ok}
}

// report reports the CPU time (all goroutines, user and system) per
// iteration as cpu-ms/op: on a shared machine it moves less than wall
// time, and it shows what concurrency does not save.
func (c cpuStart) report(b *testing.B) {
	now, ok := cpuTime()
	if !c.ok || !ok || b.N == 0 {
		return
	}
	b.ReportMetric(float64((now-c.at).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}
