package kustomize

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/render/kustomize/kustomizetest"
)

// benchTree is kustomizetest.OverlayTree's repository of n overlays
// (20*n objects) and its kustomization directories.
func benchTree(n int) (fstest.MapFS, []string) {
	fsys := fstest.MapFS{}
	var dirs []string
	for name, data := range kustomizetest.OverlayTree("", n, 1) {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
		if dir, ok := strings.CutSuffix(name, "/kustomization.yaml"); ok {
			dirs = append(dirs, dir)
		}
	}
	slices.Sort(dirs)
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
