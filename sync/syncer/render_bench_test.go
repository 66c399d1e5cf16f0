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
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// overlayTree returns a Kustomize repository under deploy/: a base of 10
// Deployments and 9 Services, and n overlays over it, each with a
// namePrefix, a namespace, its own Namespace object, an images: entry and
// a strategic merge patch: 20*n objects in all. Every object carries
// generation gen in a label, so two calls with different gen differ in
// every object.
func overlayTree(n, gen int) map[string]string {
	var deps, svcs strings.Builder
	for i := range 10 {
		fmt.Fprintf(&deps, `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app%d
  labels: {generation: "%d"}
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
`, i, gen, i, i, i)
		if i == 9 {
			continue
		}
		fmt.Fprintf(&svcs, `---
apiVersion: v1
kind: Service
metadata:
  name: app%d
  labels: {generation: "%d"}
spec:
  selector: {app: app%d}
  ports:
    - port: 80
      targetPort: 8080
`, i, gen, i)
	}
	files := map[string]string{
		"deploy/base/kustomization.yaml": "resources:\n  - deployments.yaml\n  - services.yaml\n",
		"deploy/base/deployments.yaml":   deps.String(),
		"deploy/base/services.yaml":      svcs.String(),
	}
	for o := range n {
		dir := fmt.Sprintf("deploy/overlays/o%02d", o)
		files[dir+"/kustomization.yaml"] = fmt.Sprintf(`namePrefix: o%02d-
namespace: team%02d
resources:
  - namespace.yaml
  - ../../base
patches:
  - path: scale.yaml
images:
  - name: registry.local/app0
    newTag: "2.%d"
`, o, o, o)
		files[dir+"/namespace.yaml"] = fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team%02d\n  labels: {generation: \"%d\"}\n", o, gen)
		files[dir+"/scale.yaml"] = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app0\nspec:\n  replicas: 3\n"
	}
	return files
}

// flatten renders tree (overlayTree's files) once with kustomize and
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
	kust := newRenderPipeline(b, func(gen int) map[string]string { return overlayTree(50, gen) },
		[]manifests.Renderer{kustomize.New(kustomize.Options{})})
	plain := newRenderPipeline(b, func(gen int) map[string]string { return flatten(b, overlayTree(50, gen)) }, nil)
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
