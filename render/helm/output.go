package helm

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
)

// hookAnnotation marks a Helm hook.
const hookAnnotation = "helm.sh/hook"

// objects turns the engine's output (template name -> text) into objects,
// in template name order: NOTES.txt and partials skipped, test hooks
// dropped, other hooks kept (each with a warning), namespaced objects
// without a namespace put in the release's.
func (rel *release) objects(fsys fs.FS, files map[string]string) ([]object, manifests.Problems) {
	names := make([]string, 0, len(files))
	for n := range files {
		base := path.Base(n)
		if base == "NOTES.txt" || strings.HasPrefix(base, "_") {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	var objs []object
	var probs manifests.Problems
	for _, n := range names {
		file := rel.repoPath(fsys, n)
		docs := splitDocuments(files[n])
		lines := make([]int, len(docs))
		if rel.inTree(file, n) {
			lines = rel.documentLines(n, len(docs))
		}
		for i, d := range docs {
			o, p := rel.object(file, d)
			if p != nil {
				p.Line = lines[i]
				probs = append(probs, *p)
			}
			if o != nil {
				o.Line = lines[i]
				objs = append(objs, *o)
			}
		}
	}
	return objs, probs
}

// object decodes one rendered document; nil for an empty document or a
// dropped test hook (with a problem saying so).
func (rel *release) object(file, text string) (*object, *manifests.Problem) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, &manifests.Problem{File: file, Message: "the template renders invalid YAML: " + err.Error()}
	}
	if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &manifests.Problem{File: file, Message: "the template renders a document that is not a mapping"}
	}
	var m map[string]any
	if err := root.Decode(&m); err != nil {
		return nil, &manifests.Problem{File: file, Message: "the template renders invalid YAML: " + err.Error()}
	}
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	meta, _ := m["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	what := strings.TrimSpace(kind + " " + name)
	var warn *manifests.Problem
	if hook := hookOf(meta); hook != "" {
		if isTestHook(hook) {
			return nil, &manifests.Problem{File: file, Object: what, Warning: true,
				Message: fmt.Sprintf("Helm test hook %q dropped: bosun does not run helm test", hook)}
		}
		warn = &manifests.Problem{File: file, Object: what, Warning: true,
			Message: fmt.Sprintf("Helm hook %q applied as an ordinary object: bosun has no hook phases", hook)}
	}
	if ns == "" && namespaced(apiVersion, kind) && meta != nil {
		ns = rel.cfg.namespace
		setNamespace(root, ns)
		meta["namespace"] = ns
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, &manifests.Problem{File: file, Object: what, Message: "encoding the rendered object: " + err.Error()}
	}
	o := &object{
		Rendered: manifests.Rendered{Data: buf.Bytes(), File: file, RenderedBy: rel.cfg.file,
			Encrypted: rel.encrypted && apiVersion == "v1" && kind == "Secret"},
		id:  objectID(apiVersion, kind, ns, name),
		doc: m,
	}
	return o, warn
}

// hookOf returns an object's helm.sh/hook annotation.
func hookOf(meta map[string]any) string {
	ann, _ := meta["annotations"].(map[string]any)
	h, _ := ann[hookAnnotation].(string)
	return strings.TrimSpace(h)
}

// isTestHook reports whether a hook list holds a test hook ("test",
// "test-success", "test-failure").
func isTestHook(hooks string) bool {
	for h := range strings.SplitSeq(hooks, ",") {
		if strings.HasPrefix(strings.TrimSpace(h), "test") {
			return true
		}
	}
	return false
}

// namespaced reports whether the kind lives in a namespace (unknown kinds
// count as namespaced, as in manifests).
func namespaced(apiVersion, kind string) bool {
	id := objectID(apiVersion, kind, "", "")
	version := strings.TrimPrefix(apiVersion, id.Group+"/")
	res, ok := api.ResourceFor(schemaGVK(id.Group, version, kind))
	return !ok || res.Namespaced
}

// setNamespace adds metadata.namespace to an object's mapping node.
func setNamespace(root *yaml.Node, ns string) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "metadata" || root.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		meta := root.Content[i+1]
		meta.Content = append(meta.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "namespace"},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ns})
	}
}

// separator is a YAML document separator line.
var separator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// splitDocuments splits a rendered template into its documents.
func splitDocuments(s string) []string {
	return separator.Split(s, -1)
}

// documentLines returns, for each of n rendered documents of template
// name, the line in the template where its source document starts, when
// the template's documents correspond one to one with the rendered ones
// (a single document, or separators outside any range); 0 otherwise.
func (rel *release) documentLines(name string, n int) []int {
	lines := make([]int, n)
	src := rel.templateSource(name)
	if src == nil {
		return lines
	}
	starts := []int{1}
	for i, l := range strings.Split(string(src), "\n") {
		if separator.MatchString(l) {
			starts = append(starts, i+2)
		}
	}
	if len(starts) != n {
		return lines
	}
	return starts
}

// templateSource returns the text of the template the engine names name
// ("guestbook/charts/redis/templates/x.yaml").
func (rel *release) templateSource(name string) []byte {
	c := rel.chart
	rest := strings.TrimPrefix(name, c.Name()+"/")
	for {
		sub, tail, ok := strings.Cut(strings.TrimPrefix(rest, "charts/"), "/")
		if !strings.HasPrefix(rest, "charts/") || !ok {
			break
		}
		var next = c
		for _, d := range c.Dependencies() {
			if d.Name() == sub {
				next = d
			}
		}
		if next == c {
			return nil
		}
		c, rest = next, tail
	}
	for _, t := range c.Templates {
		if t.Name == rest {
			return t.Data
		}
	}
	return nil
}

// repoPath converts a name the engine uses ("guestbook/templates/x.yaml",
// "guestbook/charts/redis/templates/y.yaml") to the tree's path of the
// file, or of the nearest file that holds it (a vendored .tgz, the
// chart's Chart.yaml, or the bosun-helm.yaml for a fetched chart).
func (rel *release) repoPath(fsys fs.FS, name string) string {
	if rel.src.archive != "" {
		return rel.src.archive
	}
	if rel.src.dir == "" {
		return rel.cfg.file
	}
	rest := strings.TrimPrefix(name, rel.chart.Name()+"/")
	if p := path.Join(rel.src.dir, rest); fileExists(fsys, p) {
		return p
	}
	// In a vendored subchart archive: charts/<name>-<version>.tgz.
	if sub, _, ok := strings.Cut(strings.TrimPrefix(rest, "charts/"), "/"); ok && strings.HasPrefix(rest, "charts/") {
		entries, _ := fs.ReadDir(fsys, path.Join(rel.src.dir, "charts"))
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".tgz") && (e.Name() == sub+".tgz" || strings.HasPrefix(e.Name(), sub+"-")) {
				return path.Join(rel.src.dir, "charts", e.Name())
			}
		}
	}
	return path.Join(rel.src.dir, "Chart.yaml")
}

// inTree reports whether file, the tree path repoPath gave for the
// engine's name, is the template itself (not an archive or Chart.yaml
// holding it), so that lines of the template are lines of file.
func (rel *release) inTree(file, name string) bool {
	return strings.HasSuffix(file, "/"+strings.TrimPrefix(name, rel.chart.Name()+"/"))
}

// fileExists reports whether p is a file of fsys.
func fileExists(fsys fs.FS, p string) bool {
	fi, err := fs.Stat(fsys, p)
	return err == nil && !fi.IsDir()
}

// templateLocation finds the first "chart/templates/x.yaml:LINE" in a
// Helm error.
var templateLocation = regexp.MustCompile(`([A-Za-z0-9_.\-]+(?:/charts/[A-Za-z0-9_.\-]+)*/templates/[^\s:()]+):([0-9]+)`)

// templateProblem turns a template error into a problem naming the
// template's file and line in the tree.
func (rel *release) templateProblem(fsys fs.FS, err error) manifests.Problem {
	msg := err.Error()
	m := templateLocation.FindStringSubmatch(msg)
	if m == nil {
		return manifests.Problem{File: rel.cfg.file, Message: "rendering the chart: " + msg}
	}
	file := rel.repoPath(fsys, m[1])
	line := 0
	if rel.inTree(file, m[1]) {
		line, _ = strconv.Atoi(m[2])
	}
	return manifests.Problem{File: file, Line: line, Message: "template error: " + msg}
}
