package kustomize

import (
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	kyamlyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/bosun-dev/bosun/manifests"
)

// Options configure a Renderer.
type Options struct {
	// AllowRemote lets kustomizations use remote resources and bases
	// (URLs, git@host:repo, github.com/org/repo//dir). Kustomize then
	// fetches them itself: it runs the git binary and needs the network,
	// and the same commit may render differently over time. Off, they are
	// refused with a problem naming the kustomization file and line.
	AllowRemote bool
	// Decrypter decrypts SOPS-encrypted files as kustomize reads them
	// (resources, patches, generator inputs); nil reads them as they are.
	// Independent roots render concurrently, so it is called from several
	// goroutines at once.
	Decrypter manifests.Decrypter
}

// Renderer renders directories holding a kustomization with kustomize
// (krusty) in process. It implements manifests.Renderer and
// manifests.RenderedEditor. It holds no state between calls; kustomize
// keeps its OpenAPI schema process-wide, which is why a kustomization's
// openapi: field is refused.
type Renderer struct {
	opts Options
}

var (
	_ manifests.Renderer       = (*Renderer)(nil)
	_ manifests.RenderedEditor = (*Renderer)(nil)
)

// New returns a Renderer.
func New(opts Options) *Renderer {
	return &Renderer{opts: opts}
}

// Name implements manifests.Renderer.
func (r *Renderer) Name() string { return "kustomize" }

// Claim implements manifests.Renderer: a directory holding
// kustomization.yaml, kustomization.yml or Kustomization is rendered.
func (r *Renderer) Claim(_ fs.FS, _ string, entries []fs.DirEntry) manifests.Claim {
	for _, e := range entries {
		for _, n := range kustFileNames {
			if e.Name() == n && !e.IsDir() {
				return manifests.ClaimRender
			}
		}
	}
	return manifests.ClaimNone
}

// Render implements manifests.Renderer. Of dirs, those another of dirs
// includes (as a resource, base or component, transitively) are rendered
// only through it; the others are roots, each rendered on its own.
func (r *Renderer) Render(fsys fs.FS, dirs []string) ([]manifests.Rendered, manifests.Problems, error) {
	cache := map[string]*kfile{}
	graphs := make(map[string]*graph, len(dirs))
	for _, d := range dirs {
		g, err := readGraph(fsys, d, r.opts.AllowRemote, cache)
		if err != nil {
			return nil, nil, err
		}
		graphs[d] = g
	}
	rs := roots(dirs, graphs)
	results := make([]rootResult, len(rs))
	r.renderAll(len(rs), func(i int) {
		results[i].objs, results[i].probs = r.renderRoot(fsys, rs[i], graphs[rs[i]])
	})
	var out []manifests.Rendered
	var probs manifests.Problems
	for _, res := range results {
		out = append(out, res.objs...)
		probs = append(probs, res.probs...)
	}
	return out, probs, nil
}

// rootResult is what rendering one root gave.
type rootResult struct {
	objs  []manifests.Rendered
	probs manifests.Problems
}

// renderAll calls render(i) for every i in [0, n), on at most GOMAXPROCS
// goroutines at once, and returns when all have returned. Each root is
// rendered by its own Kustomizer over its own filesystem; what kustomize
// shares process-wide (its OpenAPI schema) is loaded before the first
// goroutine starts and only read afterwards, since a kustomization's
// openapi: field is refused. Callers keep results by index, so the output
// order does not depend on goroutine timing.
func (r *Renderer) renderAll(n int, render func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			render(i)
		}
		return
	}
	loadSchema()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				render(i)
			}
		})
	}
	wg.Wait()
}

// loadSchema makes kustomize parse its built-in OpenAPI schema now, on
// one goroutine. Kustomize parses it on first use under its own lock but
// reads what it parsed without one (IsNamespaceScoped for kinds it does
// not know, such as custom resources), so the first use must not race
// with another rendering.
func loadSchema() {
	openapi.SchemaForResourceType(kyamlyaml.TypeMeta{APIVersion: "v1", Kind: "Namespace"})
}

// roots returns the dirs no other dir includes (two that include each
// other both stay, for kustomize to report the cycle) and that are not
// components.
func roots(dirs []string, graphs map[string]*graph) []string {
	var out []string
	for _, d := range dirs {
		// A Component is only ever applied by the kustomization that lists it.
		root := len(graphs[d].files) == 0 || !graphs[d].files[0].component
		for _, e := range dirs {
			if e != d && graphs[e].includes(d) && !graphs[d].includes(e) {
				root = false
				break
			}
		}
		if root {
			out = append(out, d)
		}
	}
	return out
}

// rendering is one root rendered by kustomize.
type rendering struct {
	res   resmap.ResMap
	tfs   *treeFS
	g     *graph
	root  string // the root's directory
	kfile string // the root's kustomization file
}

// renderRoot renders one root and turns its output into Rendered objects.
func (r *Renderer) renderRoot(fsys fs.FS, dir string, g *graph) ([]manifests.Rendered, manifests.Problems) {
	if len(g.files) == 0 {
		return nil, manifests.Problems{{File: dir, Message: "kustomize: no kustomization file"}}
	}
	if ps := g.problems(); len(ps) > 0 {
		return nil, ps
	}
	rd, ps := r.run(fsys, dir, g)
	if len(ps) > 0 {
		return nil, ps
	}
	objs, ps := rd.objects(fsys)
	return objs, ps
}

// run runs krusty over the root dir.
func (r *Renderer) run(fsys fs.FS, dir string, g *graph) (*rendering, manifests.Problems) {
	tfs := newTreeFS(fsys, r.opts.Decrypter, dir, r.opts.AllowRemote)
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	res, err := krusty.MakeKustomizer(opts).Run(tfs, abs(dir))
	if err != nil {
		return nil, errorProblems(err, tfs, g)
	}
	return &rendering{res: res, tfs: tfs, g: g, root: dir, kfile: g.files[0].file}, nil
}

// objects turns the rendering's resources into Rendered objects.
func (rd *rendering) objects(fsys fs.FS) ([]manifests.Rendered, manifests.Problems) {
	var out []manifests.Rendered
	var probs manifests.Problems
	for _, res := range rd.res.Resources() {
		o, err := rd.object(fsys, res)
		if err != nil {
			probs = append(probs, manifests.Problem{File: rd.kfile, Object: res.CurId().String(), Message: "kustomize: " + err.Error()})
			continue
		}
		out = append(out, o)
	}
	return out, probs
}

// object returns one resource with its provenance and without kustomize's
// bookkeeping annotations. The object is written from kustomize's YAML
// tree in one pass, keeping its field order and scalar styles (as the
// resource file had them) but not its comments: Resource.AsYAML would write it, parse it, turn
// it into JSON and back, four passes that cost more than a fifth of a
// rendering.
func (rd *rendering) object(fsys fs.FS, res *resource.Resource) (manifests.Rendered, error) {
	o := manifests.Rendered{RenderedBy: rd.kfile, File: rd.kfile}
	origin, err := res.GetOrigin()
	if err != nil {
		return o, fmt.Errorf("reading the origin annotation: %w", err)
	}
	if origin != nil {
		rd.provenance(fsys, res, origin, &o)
	}
	if err := stripAnnotations(res); err != nil {
		return o, err
	}
	dropComments(res.YNode())
	data, err := kyamlyaml.String(res.YNode())
	if err != nil {
		return o, fmt.Errorf("writing the object: %w", err)
	}
	o.Data = []byte(data)
	return o, nil
}

// dropComments removes the comments of the resource files from an
// object's YAML tree, as decoding and re-encoding it would: a comment of a
// decrypted file is plaintext and has no place in the object.
func dropComments(n *kyamlyaml.Node) {
	if n == nil {
		return
	}
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	for _, c := range n.Content {
		dropComments(c)
	}
}

// provenance sets File, Line and Encrypted from the origin.
func (rd *rendering) provenance(fsys fs.FS, res *resource.Resource, origin *resource.Origin, o *manifests.Rendered) {
	if origin.Repo != "" {
		return // a remote base: the root's kustomization is the nearest file in the tree
	}
	if origin.ConfiguredIn != "" {
		file := path.Join(rd.root, origin.ConfiguredIn)
		o.File = file
		if k := rd.g.byDir[path.Dir(file)]; k != nil {
			e := generatorEntry(k, res.GetKind(), res.GetName())
			o.Line = k.fieldLine(map[string]string{"ConfigMap": "configMapGenerator", "Secret": "secretGenerator"}[res.GetKind()])
			if e != nil {
				o.Line = e.line
				o.Encrypted = len(e.files) > 0 && rd.tfs.allEncrypted(e.files)
			}
		}
		return
	}
	if origin.Path == "" {
		return
	}
	file := path.Join(rd.root, origin.Path)
	if strings.HasPrefix(file, "../") {
		return
	}
	o.File = file
	o.Line = documentLine(fsys, rd.tfs, file, res.GetKind(), res.GetName())
	o.Encrypted = rd.tfs.allEncrypted([]string{file})
}

// generatorEntry returns the generator entry of k that made the object of
// kind named name: the one whose name the object's name contains
// (namePrefix, nameSuffix and the hash suffix only add to it), the longest
// such.
func generatorEntry(k *kfile, kind, name string) *entry {
	var best *entry
	for i := range k.entries {
		e := &k.entries[i]
		if e.kind != kind || e.value == "" || !strings.Contains(name, e.value) {
			continue
		}
		if best == nil || len(e.value) > len(best.value) {
			best = e
		}
	}
	return best
}

// allEncrypted reports whether every one of files was read encrypted.
func (t *treeFS) allEncrypted(files []string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range files {
		if !t.encrypted[f] {
			return false
		}
	}
	return len(files) > 0
}

// stripAnnotations removes kustomize's bookkeeping annotations.
func stripAnnotations(res *resource.Resource) error {
	ann := res.GetAnnotations()
	changed := false
	for k := range ann {
		if k == "config.kubernetes.io/origin" || strings.HasPrefix(k, "internal.config.kubernetes.io/") {
			delete(ann, k)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if err := res.SetAnnotations(ann); err != nil {
		return fmt.Errorf("removing kustomize's annotations: %w", err)
	}
	return nil
}
