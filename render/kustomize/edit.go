package kustomize

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/resource"
	kyaml "sigs.k8s.io/yaml"

	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/sync/yamledit"
)

// target is a rendered object and where it comes from.
type target struct {
	rd     *rendering
	res    *resource.Resource
	origin string // repo path of the resource file; "" for generated or remote objects
	doc    *doc   // its document in origin
}

// locate renders the root of renderedBy and finds the object id.
func (r *Renderer) locate(fsys fs.FS, renderedBy string, id manifests.ID) (*target, error) {
	if !slices.Contains(kustFileNames, path.Base(renderedBy)) {
		return nil, fmt.Errorf("kustomize: %s is not a kustomization file", renderedBy)
	}
	rd, err := r.renderForEdit(fsys, path.Dir(renderedBy))
	if err != nil {
		return nil, err
	}
	res := findResource(rd, id)
	if res == nil {
		return nil, fmt.Errorf("kustomize: %s does not render %s", renderedBy, id)
	}
	t := &target{rd: rd, res: res}
	origin, err := res.GetOrigin()
	if err != nil || origin == nil || origin.Repo != "" || origin.ConfiguredIn != "" || origin.Path == "" {
		return t, nil
	}
	file := path.Join(rd.root, origin.Path)
	if strings.HasPrefix(file, "../") {
		return t, nil
	}
	t.origin = file
	t.doc = findDoc(rd.tfs.docsOf(file), res.GetKind(), res.GetName())
	return t, nil
}

// renderForEdit renders root, turning problems into an error.
func (r *Renderer) renderForEdit(fsys fs.FS, root string) (*rendering, error) {
	g, err := readGraph(fsys, root, r.opts.AllowRemote, map[string]*kfile{})
	if err != nil {
		return nil, err
	}
	if len(g.files) == 0 {
		return nil, fmt.Errorf("kustomize: %s: no kustomization file", root)
	}
	ps := g.problems()
	var rd *rendering
	if len(ps) == 0 {
		rd, ps = r.run(fsys, root, g)
	}
	if len(ps) > 0 {
		msgs := make([]string, len(ps))
		for i, p := range ps {
			msgs[i] = p.String()
		}
		return nil, fmt.Errorf("kustomize: %s does not render: %s", g.files[0].file, strings.Join(msgs, "; "))
	}
	return rd, nil
}

// findResource returns the resource of rd named by id.
func findResource(rd *rendering, id manifests.ID) *resource.Resource {
	for _, res := range rd.res.Resources() {
		gvk := res.GetGvk()
		if gvk.Group == id.Group && gvk.Kind == id.Kind && res.GetName() == id.Name && sameNamespace(res.GetNamespace(), id.Namespace) {
			return res
		}
	}
	return nil
}

func sameNamespace(a, b string) bool {
	norm := func(s string) string {
		if s == "" {
			return "default"
		}
		return s
	}
	return norm(a) == norm(b)
}

// SetImages implements manifests.RenderedEditor. For each container (in
// name order): when a kustomization the root includes has an images:
// entry for the container's image as its resource file writes it, the
// root kustomization's images: entry for it is set (added when only a base
// has one), as `kustomize edit set image` in the root would; otherwise the
// image is edited in the resource file the object comes from. The tree is
// then rendered with the edits and each container must have exactly its
// new image; otherwise the error says why and no edit is returned.
func (r *Renderer) SetImages(fsys fs.FS, renderedBy string, id manifests.ID, images map[string]string) ([]manifests.FileEdit, error) {
	t, err := r.locate(fsys, renderedBy, id)
	if err != nil {
		return nil, err
	}
	if t.origin == "" || t.doc == nil {
		return nil, fmt.Errorf("kustomize: %s: %s is generated or comes from outside the repository; its images cannot be edited", renderedBy, id)
	}
	srcImages, err := nodeImages(t.doc)
	if err != nil {
		return nil, fmt.Errorf("kustomize: %s: %w", t.origin, err)
	}
	ov := newOverlay(fsys)
	names := make([]string, 0, len(images))
	for c := range images {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		if err := r.setImage(ov, t, renderedBy, id, c, srcImages[c], images[c]); err != nil {
			return nil, err
		}
	}
	return ov.edits(), r.checkImages(ov, renderedBy, id, images)
}

// setImage edits the tree for one container.
func (r *Renderer) setImage(ov *overlay, t *target, renderedBy string, id manifests.ID, container, srcImage, image string) error {
	if srcImage == "" {
		return fmt.Errorf("kustomize: %s: %s has no container %q in %s", renderedBy, id, container, t.origin)
	}
	names := imageEntryNames(t.rd.g, imageName(srcImage))
	if len(names) == 0 {
		return r.editOrigin(ov, t, renderedBy, id, func(data []byte) ([]byte, error) {
			return yamledit.SetImage(data, t.doc.kind, t.doc.namespace, t.doc.name, container, image)
		})
	}
	repo, tag, digest := splitImage(image)
	root := t.rd.kfile
	before, err := ov.read(root)
	if err != nil {
		return err
	}
	var lastErr error
	for _, n := range names {
		newName := repo
		if repo == n {
			newName = ""
		}
		out, err := yamledit.SetImageEntry(before, n, newName, tag, digest)
		if err != nil {
			return fmt.Errorf("kustomize: %s: %w", root, err)
		}
		ov.write(root, out)
		if lastErr = r.checkImages(ov, renderedBy, id, map[string]string{container: image}); lastErr == nil {
			return nil
		}
		ov.write(root, before)
	}
	return lastErr
}

// editOrigin edits the object's resource file with edit.
func (r *Renderer) editOrigin(ov *overlay, t *target, renderedBy string, id manifests.ID, edit func([]byte) ([]byte, error)) error {
	if t.rd.tfs.allEncrypted([]string{t.origin}) {
		return fmt.Errorf("kustomize: %s: %s comes from %s, which is encrypted: edit it with sops", renderedBy, id, t.origin)
	}
	data, err := ov.read(t.origin)
	if err != nil {
		return err
	}
	out, err := edit(data)
	if err != nil {
		return fmt.Errorf("kustomize: %s: %w", t.origin, err)
	}
	ov.write(t.origin, out)
	return nil
}

// checkImages renders the edited tree and checks the containers' images.
func (r *Renderer) checkImages(ov *overlay, renderedBy string, id manifests.ID, images map[string]string) error {
	rd, err := r.renderForEdit(ov, path.Dir(renderedBy))
	if err != nil {
		return fmt.Errorf("kustomize: the edited tree does not render: %w", err)
	}
	res := findResource(rd, id)
	if res == nil {
		return fmt.Errorf("kustomize: %s no longer renders %s after the edit", renderedBy, id)
	}
	data, err := res.AsYAML()
	if err != nil {
		return fmt.Errorf("kustomize: %s: %w", id, err)
	}
	got, err := yamlImages(data)
	if err != nil {
		return fmt.Errorf("kustomize: %s: %w", id, err)
	}
	for c, want := range images {
		if got[c] != want {
			return fmt.Errorf("kustomize: %s: after editing %s, container %q of %s renders with image %q, not %q: something later in the kustomization (a patch or a replacement) sets it; change that by hand",
				renderedBy, strings.Join(ov.paths(), ", "), c, id, got[c], want)
		}
	}
	return nil
}

// imageEntryNames returns the names a root images: entry can have to
// change an image written as name in a resource file: name itself, then
// the newName each images: entry of the graph renames it to. Empty when
// no kustomization of the graph has an entry for name.
func imageEntryNames(g *graph, name string) []string {
	var out []string
	for cur := name; cur != "" && !slices.Contains(out, cur); {
		next := ""
		for _, k := range g.files {
			for _, e := range k.images {
				if e.name == cur {
					if len(out) == 0 {
						out = append(out, name)
					}
					next = e.newName
				}
			}
		}
		if len(out) == 0 {
			return nil
		}
		if next != "" && !slices.Contains(out, next) {
			out = append(out, next)
		}
		cur = next
	}
	return out
}

// SetReplicas implements manifests.RenderedEditor: a replicas: entry of
// the root kustomization for the object is set; when only a base has one,
// or a patch sets spec.replicas, one is added to the root; otherwise
// spec.replicas is edited in the resource file the object comes from. The
// tree is then rendered with the edit and the object must have exactly
// replicas; otherwise the error says why and no edit is returned.
func (r *Renderer) SetReplicas(fsys fs.FS, renderedBy string, id manifests.ID, replicas int32) ([]manifests.FileEdit, error) {
	t, err := r.locate(fsys, renderedBy, id)
	if err != nil {
		return nil, err
	}
	name := id.Name
	if t.doc != nil {
		name = t.doc.name
	}
	ov := newOverlay(fsys)
	root := t.rd.g.files[0]
	inRoot := slices.Contains(root.replicas, name)
	inBase := false
	for _, k := range t.rd.g.files[1:] {
		inBase = inBase || slices.Contains(k.replicas, name)
	}
	if !inRoot && !inBase && t.origin != "" && t.doc != nil {
		err := r.editOrigin(ov, t, renderedBy, id, func(data []byte) ([]byte, error) {
			return yamledit.SetReplicas(data, t.doc.kind, t.doc.namespace, t.doc.name, replicas)
		})
		if err == nil && r.checkReplicas(ov, renderedBy, id, replicas) == nil {
			return ov.edits(), nil
		}
		ov = newOverlay(fsys) // a patch sets it: fall back to a root replicas: entry
	}
	data, err := ov.read(root.file)
	if err != nil {
		return nil, err
	}
	out, err := yamledit.SetReplicasEntry(data, name, replicas)
	if err != nil {
		return nil, fmt.Errorf("kustomize: %s: %w", root.file, err)
	}
	ov.write(root.file, out)
	if err := r.checkReplicas(ov, renderedBy, id, replicas); err != nil {
		return nil, err
	}
	return ov.edits(), nil
}

// checkReplicas renders the edited tree and checks spec.replicas.
func (r *Renderer) checkReplicas(ov *overlay, renderedBy string, id manifests.ID, replicas int32) error {
	rd, err := r.renderForEdit(ov, path.Dir(renderedBy))
	if err != nil {
		return fmt.Errorf("kustomize: the edited tree does not render: %w", err)
	}
	res := findResource(rd, id)
	if res == nil {
		return fmt.Errorf("kustomize: %s no longer renders %s after the edit", renderedBy, id)
	}
	var obj struct {
		Spec struct {
			Replicas *int32 `json:"replicas"`
		} `json:"spec"`
	}
	data, err := res.AsYAML()
	if err == nil {
		err = kyaml.Unmarshal(data, &obj)
	}
	if err != nil {
		return fmt.Errorf("kustomize: %s: %w", id, err)
	}
	if obj.Spec.Replicas == nil || *obj.Spec.Replicas != replicas {
		got := "none"
		if obj.Spec.Replicas != nil {
			got = fmt.Sprint(*obj.Spec.Replicas)
		}
		return fmt.Errorf("kustomize: %s: after editing %s, %s renders with spec.replicas %s, not %d: something later in the kustomization (a patch or a replacement) sets it; change that by hand",
			renderedBy, strings.Join(ov.paths(), ", "), id, got, replicas)
	}
	return nil
}

// podSpecPaths are where the pod spec sits in the kinds bosun edits.
var podSpecPaths = [][]string{{"spec", "template", "spec"}, {"spec", "jobTemplate", "spec", "template", "spec"}, {"spec"}}

// yamlImages returns container name -> image of an object (containers and
// init containers).
func yamlImages(data []byte) (map[string]string, error) {
	var obj map[string]any
	if err := kyaml.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	return objImages(obj), nil
}

// nodeImages returns container name -> image of a document.
func nodeImages(d *doc) (map[string]string, error) {
	var obj map[string]any
	if err := d.node.Decode(&obj); err != nil {
		return nil, err
	}
	return objImages(obj), nil
}

func objImages(obj map[string]any) map[string]string {
	out := map[string]string{}
	for _, p := range podSpecPaths {
		spec := dig(obj, p)
		if spec == nil {
			continue
		}
		for _, list := range []string{"containers", "initContainers"} {
			items, _ := spec[list].([]any)
			for _, it := range items {
				c, _ := it.(map[string]any)
				name, _ := c["name"].(string)
				image, _ := c["image"].(string)
				if name != "" {
					out[name] = image
				}
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return out
}

func dig(m map[string]any, p []string) map[string]any {
	for _, k := range p {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil
		}
		m = next
	}
	return m
}

// imageName is an image reference without tag and digest, as kustomize's
// images: entries name images.
func imageName(image string) string {
	repo, _, _ := splitImage(image)
	return repo
}

// splitImage splits an image reference into repository, tag and digest.
func splitImage(image string) (repo, tag, digest string) {
	repo = image
	if i := strings.Index(repo, "@"); i >= 0 {
		repo, digest = repo[:i], repo[i+1:]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// overlay is a tree with some files replaced: the edits being made.
type overlay struct {
	fs.FS
	files map[string][]byte
}

func newOverlay(fsys fs.FS) *overlay {
	return &overlay{FS: fsys, files: map[string][]byte{}}
}

// Open implements fs.FS, serving the edited files.
func (o *overlay) Open(name string) (fs.File, error) {
	if data, ok := o.files[name]; ok {
		return &overlayFile{Reader: bytes.NewReader(data), info: memInfo{name: path.Base(name), size: int64(len(data))}}, nil
	}
	return o.FS.Open(name)
}

func (o *overlay) read(name string) ([]byte, error) {
	data, err := fs.ReadFile(o, name)
	if err != nil {
		return nil, fmt.Errorf("kustomize: %w", err)
	}
	return data, nil
}

func (o *overlay) write(name string, data []byte) { o.files[name] = data }

// paths returns the edited files in order.
func (o *overlay) paths() []string {
	out := make([]string, 0, len(o.files))
	for p := range o.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// edits returns the edits in path order, leaving out files that ended
// unchanged.
func (o *overlay) edits() []manifests.FileEdit {
	var out []manifests.FileEdit
	for _, p := range o.paths() {
		if old, err := fs.ReadFile(o.FS, p); err == nil && bytes.Equal(old, o.files[p]) {
			continue
		}
		out = append(out, manifests.FileEdit{Path: p, Data: o.files[p]})
	}
	return out
}

// overlayFile is an edited file opened from an overlay.
type overlayFile struct {
	*bytes.Reader
	info memInfo
}

func (f *overlayFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *overlayFile) Close() error               { return nil }
