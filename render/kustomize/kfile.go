package kustomize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/bosun-dev/bosun/manifests"
)

// kustFileNames are the names kustomize recognizes, in its order.
var kustFileNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// kustFileName returns the kustomization file name of dir, "" if none.
func kustFileName(fsys fs.FS, dir string) string {
	for _, n := range kustFileNames {
		if st, err := fs.Stat(fsys, path.Join(dir, n)); err == nil && !st.IsDir() {
			return n
		}
	}
	return ""
}

// entry is one item of a kustomization list bosun points problems at.
type entry struct {
	field  string // "resources", "patches", "configMapGenerator", ...
	value  string // the path, or a generator's name
	target string // a patch's target name
	line   int
	kind   string   // a generator's kind: ConfigMap or Secret
	files  []string // a generator's input files, repo paths
}

// imageEntry is an item of images:.
type imageEntry struct {
	name, newName, newTag, digest string
}

// kfile is one kustomization file as bosun reads it for lines, includes
// and edits (kustomize itself reads it again to render).
type kfile struct {
	file       string // repo path of the kustomization file
	dir        string
	fieldLines map[string]int
	entries    []entry
	includes   []string // repo dirs of resources/bases/components that are directories
	images     []imageEntry
	replicas   []string // names of replicas: entries
	component  bool     // kind: Component
	problems   manifests.Problems
}

// fieldLine returns the line of field, or 1.
func (k *kfile) fieldLine(field string) int {
	if l, ok := k.fieldLines[field]; ok {
		return l
	}
	return 1
}

// readKfile reads the kustomization of dir. allowRemote keeps remote
// resources from being problems.
func readKfile(fsys fs.FS, dir string, allowRemote bool) (*kfile, error) {
	name := kustFileName(fsys, dir)
	if name == "" {
		return nil, nil
	}
	k := &kfile{file: path.Join(dir, name), dir: dir, fieldLines: map[string]int{}}
	data, err := fs.ReadFile(fsys, k.file)
	if err != nil {
		return nil, fmt.Errorf("kustomize: %s: %w", k.file, err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		k.problems = append(k.problems, manifests.Problem{File: k.file, Line: yamlErrLine(err), Message: "kustomization does not parse: " + err.Error()})
		return k, nil
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return k, nil
	}
	m := doc.Content[0]
	k.component = scalar(m, "kind") == "Component"
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, val := m.Content[i], m.Content[i+1]
		k.fieldLines[key.Value] = key.Line
		k.readField(fsys, key, val, allowRemote)
	}
	return k, nil
}

// readField records the entries of one top-level field.
func (k *kfile) readField(fsys fs.FS, key, val *yaml.Node, allowRemote bool) {
	switch key.Value {
	case "resources", "bases", "components":
		for _, it := range val.Content {
			k.readResource(fsys, key.Value, it, allowRemote)
		}
	case "patchesStrategicMerge":
		for _, it := range val.Content {
			k.entries = append(k.entries, entry{field: key.Value, value: it.Value, line: it.Line, target: patchName(fsys, path.Join(k.dir, it.Value))})
		}
	case "patches", "patchesJson6902":
		for _, it := range val.Content {
			e := entry{field: key.Value, value: scalar(it, "path"), line: it.Line}
			if _, t := mapGet(it, "target"); t != nil {
				e.target = scalar(t, "name")
			} else if e.value != "" {
				e.target = patchName(fsys, path.Join(k.dir, e.value))
			}
			k.entries = append(k.entries, e)
		}
	case "configMapGenerator", "secretGenerator":
		kind := map[string]string{"configMapGenerator": "ConfigMap", "secretGenerator": "Secret"}[key.Value]
		for _, it := range val.Content {
			k.entries = append(k.entries, entry{field: key.Value, value: scalar(it, "name"), line: it.Line, kind: kind, files: k.generatorFiles(it)})
		}
	case "images":
		for _, it := range val.Content {
			k.images = append(k.images, imageEntry{name: scalar(it, "name"), newName: scalar(it, "newName"), newTag: scalar(it, "newTag"), digest: scalar(it, "digest")})
		}
	case "replicas":
		for _, it := range val.Content {
			k.replicas = append(k.replicas, scalar(it, "name"))
		}
	case "openapi":
		k.problems = append(k.problems, manifests.Problem{File: k.file, Line: key.Line, Field: key.Value,
			Message: "openapi is not supported: kustomize keeps a custom schema for the whole process, so it would change how other kustomizations render"})
	case "helmCharts", "helmChartInflationGenerator", "helmGlobals":
		line := key.Line
		if len(val.Content) > 0 {
			line = val.Content[0].Line
		}
		k.problems = append(k.problems, manifests.Problem{File: k.file, Line: line, Field: key.Value,
			Message: key.Value + " is not supported (kustomize would run the helm binary): render the chart with a bosun-helm.yaml in its own directory instead"})
	}
}

// readResource records one resources/bases/components item.
func (k *kfile) readResource(fsys fs.FS, field string, it *yaml.Node, allowRemote bool) {
	k.entries = append(k.entries, entry{field: field, value: it.Value, line: it.Line})
	p := path.Join(k.dir, it.Value)
	if st, err := fs.Stat(fsys, p); err == nil {
		if st.IsDir() && !strings.HasPrefix(p, "../") && p != ".." {
			k.includes = append(k.includes, p)
		}
		return
	}
	switch {
	case !isRemote(it.Value):
		k.problems = append(k.problems, manifests.Problem{File: k.file, Line: it.Line, Field: field,
			Message: fmt.Sprintf("%s %q: %s does not exist in the repository", field, it.Value, p)})
	case !allowRemote:
		k.problems = append(k.problems, manifests.Problem{File: k.file, Line: it.Line, Field: field,
			Message: fmt.Sprintf("remote %s %q refused: remote bases make a commit render differently over time; vendor it into the repository (or start the server with --allow-remote-bases)", field, it.Value)})
	}
}

// patchName returns the name of the object a patch file patches ("" if
// the file cannot be read), for matching kustomize's errors, which name
// the patch's target rather than its file.
func patchName(fsys fs.FS, file string) string {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return ""
	}
	if docs := fileDocs(data); len(docs) > 0 {
		return docs[0].name
	}
	return ""
}

// generatorFiles returns the repo paths of a generator's files, envs and
// env inputs.
func (k *kfile) generatorFiles(it *yaml.Node) []string {
	var files []string
	for _, f := range []string{"files", "envs"} {
		if _, seq := mapGet(it, f); seq != nil {
			for _, s := range seq.Content {
				v := s.Value
				if i := strings.Index(v, "="); i >= 0 {
					v = v[i+1:]
				}
				files = append(files, path.Join(k.dir, v))
			}
		}
	}
	if env := scalar(it, "env"); env != "" {
		files = append(files, path.Join(k.dir, env))
	}
	return files
}

// isRemote reports whether a resource that is not in the tree is a URL
// kustomize would fetch (https://, git@host:, github.com/org/repo, ...).
func isRemote(s string) bool {
	if strings.Contains(s, "://") || strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "git::") {
		return true
	}
	first, _, found := strings.Cut(s, "/")
	return found && strings.Contains(first, ".") && first != "." && first != ".."
}

// mapGet returns the key and value nodes of key in mapping m.
func mapGet(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// scalar returns the scalar value of key in mapping m, "" if none.
func scalar(m *yaml.Node, key string) string {
	if _, v := mapGet(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// yamlErrLine returns the line yaml.v3 names in err, 0 if none.
func yamlErrLine(err error) int {
	var line int
	if _, e := fmt.Sscanf(strings.TrimPrefix(err.Error(), "yaml: "), "line %d:", &line); e == nil {
		return line
	}
	return 0
}

// graph is the kustomizations reachable from a root, in depth-first
// order (root first).
type graph struct {
	files []*kfile
	byDir map[string]*kfile
}

// readGraph reads the kustomization of root and of every directory it
// includes, transitively; cache holds kustomizations already read.
func readGraph(fsys fs.FS, root string, allowRemote bool, cache map[string]*kfile) (*graph, error) {
	g := &graph{byDir: map[string]*kfile{}}
	var visit func(dir string) error
	visit = func(dir string) error {
		if _, seen := g.byDir[dir]; seen {
			return nil
		}
		k, ok := cache[dir]
		if !ok {
			var err error
			if k, err = readKfile(fsys, dir, allowRemote); err != nil {
				return err
			}
			cache[dir] = k
		}
		g.byDir[dir] = k
		if k == nil {
			return nil
		}
		g.files = append(g.files, k)
		for _, inc := range k.includes {
			if err := visit(inc); err != nil {
				return err
			}
		}
		return nil
	}
	return g, visit(root)
}

// includes reports whether the graph includes dir other than as its root.
func (g *graph) includes(dir string) bool {
	for _, k := range g.files {
		for _, inc := range k.includes {
			if inc == dir {
				return true
			}
		}
	}
	return false
}

// problems returns the problems found reading the graph's kustomizations.
func (g *graph) problems() manifests.Problems {
	var ps manifests.Problems
	for _, k := range g.files {
		ps = append(ps, k.problems...)
	}
	return ps
}
