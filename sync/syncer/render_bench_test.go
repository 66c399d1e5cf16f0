package syncer_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/render/kustomize"
	"github.com/bosun-dev/bosun/render/kustomize/kustomizetest"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// flatten renders tree (kustomizetest.OverlayTree's files) once with kustomize and
// returns the same objects as plain YAML: one file per overlay, under
// deploy/, holding that overlay's objects in kustomize's order.
func flatten(tb testing.TB, tree map[string]string) map[string]string {
	tb.Helper()
	fsys := fstest.MapFS{}
	var dirs []string
	for name, data := range tree {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
		if strings.HasSuffix(name, "/kustomization.yaml") {
			dirs = append(dirs, strings.TrimSuffix(name, "/kustomization.yaml"))
		}
	}
	slices.Sort(dirs)
	objs, probs, err := kustomize.New(kustomize.Options{}).Render(fsys, dirs)
	if err != nil || len(probs) != 0 {
		tb.Fatalf("render: problems %v, err %v", probs, err)
	}
	out := map[string]*strings.Builder{}
	for _, o := range objs {
		f := "deploy/" + strings.TrimPrefix(strings.TrimSuffix(o.RenderedBy, "/kustomization.yaml"), "deploy/overlays/") + ".yaml"
		if out[f] == nil {
			out[f] = &strings.Builder{}
		}
		out[f].WriteString("---\n")
		out[f].Write(o.Data)
	}
	files := make(map[string]string, len(out))
	for f, s := range out {
		files[f] = s.String()
	}
	return files
}

// renderPipeline is one of the two repositories BenchmarkSyncRender50Overlays
// syncs: its Git repository and its syncer on its own embedded etcd.
type renderPipeline struct {
	g     *gitRepo
	sy    *syncer.Syncer
	files func(gen int) map[string]string
	took  []time.Duration
}

// newRenderPipeline starts a store and a syncer for a repository whose
// commits hold files(gen), and syncs generation 1.
func newRenderPipeline(b *testing.B, files func(gen int) map[string]string, renderers []manifests.Renderer) *renderPipeline {
	b.Helper()
	p := &renderPipeline{g: newGitRepo(b), files: files}
	p.sy = syncer.New(syncer.Config{Source: localSource(b, p.g.dir), Store: storetest.Start(b), Path: "deploy", Renderers: renderers})
	p.step(b, 1)
	p.took = nil
	return p
}

// step commits generation gen and times the sync of that commit: fetch,
// render, decode, validate and one etcd transaction updating all 1,000
// objects.
func (p *renderPipeline) step(b *testing.B, gen int) {
	b.Helper()
	sha := p.g.commit(fmt.Sprintf("generation %d", gen), p.files(gen))
	start := time.Now()
	att, err := p.sy.SyncOnce(b.Context())
	p.took = append(p.took, time.Since(start))
	if err != nil || att.Result != state.ResultApplied || att.Commit.SHA != sha || att.Created+att.Updated != 1000 {
		b.Fatalf("sync of generation %d: %+v %v", gen, att, err)
	}
}

// median returns the median of ds in milliseconds.
func median(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1000
}

// BenchmarkSyncRender50Overlays measures, commit to applied, the sync of a
// Kustomize repository of 50 overlays over one base (1,000 objects: render,
// decode, validate, one etcd transaction) beside the same 1,000 objects as
// plain YAML (rendered once and written out, one file per overlay), each
// with its own embedded etcd. Every iteration commits a generation that
// changes every object to both repositories and syncs them one after the
// other, alternating which goes first. It reports the median of each and
// their ratio (target: kustomize/plain <= 2).
func BenchmarkSyncRender50Overlays(b *testing.B) {
	kust := newRenderPipeline(b, func(gen int) map[string]string { return kustomizetest.OverlayTree("deploy", 50, gen) },
		[]manifests.Renderer{kustomize.New(kustomize.Options{})})
	plain := newRenderPipeline(b, func(gen int) map[string]string { return flatten(b, kustomizetest.OverlayTree("deploy", 50, gen)) }, nil)
	gen := 1
	for b.Loop() {
		gen++
		pair := []*renderPipeline{kust, plain}
		if gen%2 == 1 {
			pair[0], pair[1] = plain, kust
		}
		for _, p := range pair {
			p.step(b, gen)
		}
	}
	k, pl := median(kust.took), median(plain.took)
	b.ReportMetric(k, "kustomize-ms")
	b.ReportMetric(pl, "plain-ms")
	b.ReportMetric(k/pl, "kustomize/plain")
}
