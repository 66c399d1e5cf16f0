package helm

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bosun-dev/bosun/manifests"
)

// field reads one field of a rendered object for an edit.
type field struct {
	// name is the field path as Kubernetes prints it.
	name string
	get  func(doc map[string]any) (any, bool)
	// tag is the YAML tag new values are written with ("!!int", "!!str").
	tag string
}

// leafEdit is a value to write into one values leaf.
type leafEdit struct {
	path  []string
	value string
	tag   string
}

// SetReplicas returns the edit of the values leaf that gives spec.replicas
// of the object id, rendered by renderedBy (a bosun-helm.yaml), the value
// replicas, checked by rendering the edited tree. It refuses, naming the
// template, when spec.replicas is not a plain value of a values file.
func (r *Renderer) SetReplicas(fsys fs.FS, renderedBy string, id manifests.ID, replicas int32) ([]manifests.FileEdit, error) {
	f := field{name: "spec.replicas", tag: "!!int", get: func(doc map[string]any) (any, bool) {
		spec, _ := doc["spec"].(map[string]any)
		v, ok := spec["replicas"]
		return v, ok
	}}
	return r.edit(fsys, renderedBy, id, []field{f}, []string{strconv.Itoa(int(replicas))})
}

// SetImages returns the edits of the values leaves that give the named
// containers (and init containers) of the object id their new images,
// checked by rendering the edited tree. An image composed of several
// leaves ("{{ .Values.image.repository }}:{{ .Values.image.tag }}") is
// split along the template's literal text. It refuses, naming the
// template, when an image is computed or not set by any values file.
func (r *Renderer) SetImages(fsys fs.FS, renderedBy string, id manifests.ID, images map[string]string) ([]manifests.FileEdit, error) {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range images {
			if !yield(n) {
				return
			}
		}
	})
	var fields []field
	var values []string
	for _, n := range names {
		fields = append(fields, containerImage(n))
		values = append(values, images[n])
	}
	return r.edit(fsys, renderedBy, id, fields, values)
}

// containerImage reads the image of the container or init container name
// in a pod template (or a pod).
func containerImage(name string) field {
	return field{name: fmt.Sprintf("containers[name=%s].image", name), tag: "!!str", get: func(doc map[string]any) (any, bool) {
		spec, _ := doc["spec"].(map[string]any)
		if tpl, ok := spec["template"].(map[string]any); ok {
			spec, _ = tpl["spec"].(map[string]any)
		} else if jt, ok := spec["jobTemplate"].(map[string]any); ok {
			js, _ := jt["spec"].(map[string]any)
			tpl, _ := js["template"].(map[string]any)
			spec, _ = tpl["spec"].(map[string]any)
		}
		for _, key := range []string{"containers", "initContainers"} {
			list, _ := spec[key].([]any)
			for _, c := range list {
				cm, _ := c.(map[string]any)
				if cm["name"] == name {
					v, ok := cm["image"]
					return v, ok
				}
			}
		}
		return nil, false
	}}
}

// edit sets each field of the object to the value at the same index.
func (r *Renderer) edit(fsys fs.FS, renderedBy string, id manifests.ID, fields []field, values []string) ([]manifests.FileEdit, error) {
	ctx := context.Background()
	rel, probs, err := r.loadRelease(ctx, fsys, renderedBy)
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return nil, fmt.Errorf("helm: %s cannot be rendered: %s", renderedBy, probs.Errors())
	}
	files := map[string][]byte{}
	for i, f := range fields {
		leaves, err := r.findLeaves(ctx, fsys, rel, id, f, values[i])
		if err != nil {
			return nil, err
		}
		for _, l := range leaves {
			if err := r.writeLeaf(fsys, rel, files, l); err != nil {
				return nil, err
			}
		}
	}
	edits := make([]manifests.FileEdit, 0, len(files))
	for _, p := range slices.Sorted(mapKeys(files)) {
		edits = append(edits, manifests.FileEdit{Path: p, Data: files[p]})
	}
	if err := r.verify(ctx, overlay{base: fsys, files: files}, renderedBy, id, fields, values); err != nil {
		return nil, err
	}
	return edits, nil
}

// findLeaves finds the values leaves that feed field f of the object and
// the values that give it value.
func (r *Renderer) findLeaves(ctx context.Context, fsys fs.FS, rel *release, id manifests.ID, f field, value string) ([]leafEdit, error) {
	obj, err := r.renderObject(ctx, fsys, rel.cfg.file, id, nil)
	if err != nil {
		return nil, err
	}
	cur, ok := f.get(obj.doc)
	if !ok {
		return nil, fmt.Errorf("helm: %s: %s has no %s", obj.File, id, f.name)
	}
	curText := fmt.Sprint(cur)
	var feeding [][]string
	for _, leaf := range rel.candidateLeaves(fsys, curText) {
		o, err := r.renderObject(ctx, fsys, rel.cfg.file, id, setAt(leaf, sentinel(0)))
		if err != nil {
			continue
		}
		if v, ok := f.get(o.doc); ok && strings.Contains(fmt.Sprint(v), sentinel(0)) {
			feeding = append(feeding, leaf)
		}
	}
	if len(feeding) == 0 {
		return nil, fmt.Errorf("helm: %s of %s is not a value of the values files (the template %s computes it); edit the template or the values by hand", f.name, id, obj.File)
	}
	return r.splitValue(ctx, fsys, rel, id, f, obj.File, feeding, value)
}

// splitValue renders with a distinct sentinel in each feeding leaf to learn
// the template's literal text around them, and splits value along it.
func (r *Renderer) splitValue(ctx context.Context, fsys fs.FS, rel *release, id manifests.ID, f field, tpl string, leaves [][]string, value string) ([]leafEdit, error) {
	override := map[string]any{}
	for i, l := range leaves {
		mergeInto(override, setAt(l, sentinel(i)))
	}
	obj, err := r.renderObject(ctx, fsys, rel.cfg.file, id, override)
	if err != nil {
		return nil, err
	}
	v, _ := f.get(obj.doc)
	pattern := fmt.Sprint(v)
	// Order the leaves by where their sentinels appear.
	type pos struct{ at, leaf int }
	var order []pos
	for i := range leaves {
		if at := strings.Index(pattern, sentinel(i)); at >= 0 {
			order = append(order, pos{at, i})
		}
	}
	slices.SortFunc(order, func(a, b pos) int { return a.at - b.at })
	expr := "^"
	rest := pattern
	for _, p := range order {
		before, after, _ := strings.Cut(rest, sentinel(p.leaf))
		expr += regexp.QuoteMeta(before) + "(.+)"
		rest = after
	}
	expr += regexp.QuoteMeta(rest) + "$"
	m := regexp.MustCompile(expr).FindStringSubmatch(value)
	if m == nil || (f.tag == "!!int" && expr != "^(.+)$") {
		return nil, fmt.Errorf("helm: %s of %s is built by the template %s as %q from values and fixed text; %q does not fit it (edit the template or the values by hand)", f.name, id, tpl, pattern, value)
	}
	out := make([]leafEdit, len(order))
	for i, p := range order {
		out[i] = leafEdit{path: leaves[p.leaf], value: m[i+1], tag: f.tag}
	}
	return out, nil
}

// renderObject renders the release with override and returns object id.
func (r *Renderer) renderObject(ctx context.Context, fsys fs.FS, cfgFile string, id manifests.ID, override map[string]any) (*object, error) {
	objs, probs, err := r.renderRelease(ctx, fsys, cfgFile, override)
	if err != nil {
		return nil, err
	}
	if errs := probs.Errors(); len(errs) > 0 {
		return nil, fmt.Errorf("helm: %s does not render: %s", cfgFile, errs)
	}
	for i := range objs {
		if objs[i].id == id {
			return &objs[i], nil
		}
	}
	return nil, fmt.Errorf("helm: %s renders no %s", cfgFile, id)
}

// verify renders the edited tree and checks every field has its value.
func (r *Renderer) verify(ctx context.Context, fsys fs.FS, cfgFile string, id manifests.ID, fields []field, values []string) error {
	obj, err := r.renderObject(ctx, fsys, cfgFile, id, nil)
	if err != nil {
		return fmt.Errorf("helm: after the edit: %w", err)
	}
	for i, f := range fields {
		v, _ := f.get(obj.doc)
		if fmt.Sprint(v) != values[i] {
			return fmt.Errorf("helm: after editing the values, %s of %s renders as %v, not %s (template %s); edit it by hand", f.name, id, v, values[i], obj.File)
		}
	}
	return nil
}

// sentinel is a value no chart produces by itself.
func sentinel(i int) string { return fmt.Sprintf("zzbosunsentinel%dzz", i) }

// mapKeys iterates over a map's keys.
func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
