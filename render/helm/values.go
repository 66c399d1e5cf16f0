package helm

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/bosun-dev/bosun/sync/yamledit"
)

// candidateLeaves returns the scalar leaves (key paths) set by the chart's
// values.yaml or the user's values whose text occurs in cur, sorted.
func (rel *release) candidateLeaves(fsys fs.FS, cur string) [][]string {
	seen := map[string][]string{}
	add := func(vals map[string]any) {
		walkLeaves(vals, nil, func(p []string, v any) {
			if s := fmt.Sprint(v); s != "" && strings.Contains(cur, s) {
				seen[strings.Join(p, "\x00")] = p
			}
		})
	}
	for _, d := range rel.defaults(fsys) {
		walkLeaves(d.values, d.prefix, func(p []string, v any) {
			if s := fmt.Sprint(v); s != "" && strings.Contains(cur, s) {
				seen[strings.Join(p, "\x00")] = p
			}
		})
	}
	for _, l := range rel.layers {
		add(l.values)
	}
	var out [][]string
	for _, k := range slices.Sorted(mapKeys(seen)) {
		out = append(out, seen[k])
	}
	return out
}

// walkLeaves calls fn for every scalar under mappings of vals (lists are
// not walked: Helm replaces them whole).
func walkLeaves(vals map[string]any, prefix []string, fn func([]string, any)) {
	for k, v := range vals {
		p := append(slices.Clone(prefix), k)
		switch v := v.(type) {
		case map[string]any:
			walkLeaves(v, p, fn)
		case []any, nil:
		default:
			fn(p, v)
		}
	}
}

// setAt returns a nested map holding v at key path p.
func setAt(p []string, v any) map[string]any {
	m := map[string]any{p[len(p)-1]: v}
	for i := len(p) - 2; i >= 0; i-- {
		m = map[string]any{p[i]: m}
	}
	return m
}

// mergeInto merges src into dst, recursively for mappings.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// hasLeaf reports whether vals holds a scalar at p.
func hasLeaf(vals map[string]any, p []string) bool {
	var cur any = vals
	for _, k := range p {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[k]; !ok {
			return false
		}
	}
	switch cur.(type) {
	case map[string]any, []any, nil:
		return false
	}
	return true
}

// writeLeaf edits leaf l in the last values source that sets it: the
// inline values of bosun-helm.yaml, else the last valueFile, else the
// chart's own values.yaml when the chart is a directory of the tree.
// files holds the edited contents so far.
func (r *Renderer) writeLeaf(fsys fs.FS, rel *release, files map[string][]byte, l leafEdit) error {
	file, keyPath := "", l.path
	for i := len(rel.layers) - 1; i >= 0 && file == ""; i-- {
		layer := rel.layers[i]
		if !hasLeaf(layer.values, l.path) {
			continue
		}
		if layer.encrypted {
			return fmt.Errorf("helm: %s sets %s but is encrypted with SOPS: edit it with sops", layer.file, strings.Join(l.path, "."))
		}
		file = layer.file
		if layer.inline {
			keyPath = append([]string{"values"}, l.path...)
		}
	}
	for _, d := range rel.defaults(fsys) {
		if file == "" && len(l.path) > len(d.prefix) && slices.Equal(l.path[:len(d.prefix)], d.prefix) && hasLeaf(d.values, l.path[len(d.prefix):]) {
			file, keyPath = d.file, l.path[len(d.prefix):]
		}
	}
	if file == "" {
		return fmt.Errorf("helm: no values file of %s sets %s: add it to a values file", rel.cfg.file, strings.Join(l.path, "."))
	}
	data, ok := files[file]
	if !ok {
		var err error
		if data, err = fs.ReadFile(fsys, file); err != nil {
			return fmt.Errorf("helm: reading %s: %w", file, err)
		}
	}
	out, err := yamledit.SetPath(data, keyPath, l.value, l.tag)
	if err != nil {
		return fmt.Errorf("helm: editing %s in %s: %w", strings.Join(l.path, "."), file, err)
	}
	files[file] = out
	return nil
}

// defaultValues is a chart's values.yaml in the tree: the values of the
// (sub)chart reached at prefix (the subchart names).
type defaultValues struct {
	prefix []string
	file   string
	values map[string]any
}

// defaults lists the values.yaml files of the chart and its subcharts that
// are directories of the tree, a parent before its subcharts (its values
// override theirs); they are edited only when no user values file sets
// the leaf.
func (rel *release) defaults(fsys fs.FS) []defaultValues {
	if rel.src.dir == "" {
		return nil
	}
	var out []defaultValues
	var walk func(c *chart.Chart, dir string, prefix []string)
	walk = func(c *chart.Chart, dir string, prefix []string) {
		if fileExists(fsys, path.Join(dir, "values.yaml")) {
			out = append(out, defaultValues{prefix: prefix, file: path.Join(dir, "values.yaml"), values: c.Values})
		}
		for _, d := range c.Dependencies() {
			sub := path.Join(dir, "charts", d.Name())
			if fileExists(fsys, path.Join(sub, "Chart.yaml")) {
				walk(d, sub, append(slices.Clone(prefix), d.Name()))
			}
		}
	}
	walk(rel.chart, rel.src.dir, nil)
	return out
}
