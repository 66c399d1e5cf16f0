package kustomize

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"strings"

	"go.yaml.in/yaml/v3"
)

// doc is one document of a resource file: the object it defines and the
// line it starts on.
type doc struct {
	kind, namespace, name string
	line                  int
	node                  *yaml.Node
}

// fileDocs parses the documents of data (a List's items count as
// documents).
func fileDocs(data []byte) []doc {
	var docs []doc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) || err != nil {
			return docs
		}
		if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
			continue
		}
		m := n.Content[0]
		if scalar(m, "kind") == "List" {
			if _, items := mapGet(m, "items"); items != nil {
				for _, it := range items.Content {
					docs = append(docs, docOf(it))
				}
				continue
			}
		}
		docs = append(docs, docOf(m))
	}
}

func docOf(m *yaml.Node) doc {
	_, meta := mapGet(m, "metadata")
	return doc{kind: scalar(m, "kind"), namespace: scalar(meta, "namespace"), name: scalar(meta, "name"), line: m.Line, node: m}
}

// docsOf returns the documents of a repo file as kustomize read it
// (decrypted), parsed once per rendering.
func (t *treeFS) docsOf(file string) []doc {
	t.mu.Lock()
	if d, ok := t.docs[file]; ok {
		t.mu.Unlock()
		return d
	}
	t.mu.Unlock()
	data, err := t.ReadFile(abs(file))
	var docs []doc
	if err == nil {
		docs = fileDocs(data)
	}
	t.mu.Lock()
	t.docs[file] = docs
	t.mu.Unlock()
	return docs
}

// findDoc returns the document of file that defined the object of kind
// named name in the output. Kustomize keeps an object's previous names
// only in internal annotations it removes before returning, so the match
// is by name: the document with exactly that name, else the one whose
// name the output name contains (namePrefix and nameSuffix only add to a
// name; a namespace change does not touch it), the longest such; else the
// only document of that kind in the file; else the first document. nil
// when the file has no document.
func findDoc(docs []doc, kind, name string) *doc {
	var best, only *doc
	count := 0
	for i := range docs {
		d := &docs[i]
		if d.kind != kind {
			continue
		}
		count++
		only = d
		if d.name == name {
			return d
		}
		if d.name != "" && strings.Contains(name, d.name) && (best == nil || len(d.name) > len(best.name)) {
			best = d
		}
	}
	switch {
	case best != nil:
		return best
	case count == 1:
		return only
	case len(docs) > 0:
		return &docs[0]
	}
	return nil
}

// documentLine returns the line where the object of kind named name starts
// in file (see findDoc), 0 when not known.
func documentLine(_ fs.FS, t *treeFS, file, kind, name string) int {
	if d := findDoc(t.docsOf(file), kind, name); d != nil {
		return d.line
	}
	return 0
}
