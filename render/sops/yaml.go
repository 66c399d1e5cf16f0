package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// metadataKey is the top-level key of SOPS's metadata.
const metadataKey = "sops"

// parseYAML reads a YAML or JSON file as SOPS's stores do: every document
// is a mapping; the first document's sops mapping is the metadata, and the
// sops key of every document is removed.
func parseYAML(file string, data []byte) (*parsed, error) {
	p := &parsed{file: file, data: data}
	lines := lineStarts(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 0; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("sops: %s: %w", file, err)
		}
		if len(n.Content) == 0 {
			continue
		}
		root := n.Content[0]
		if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
			continue
		}
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("sops: %s:%d: a document that is not a mapping cannot be encrypted with SOPS", file, root.Line)
		}
		w := &yamlWalker{p: p, lines: lines}
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == metadataKey {
				if err := p.yamlMetadata(doc, k, v, lines); err != nil {
					return nil, err
				}
				continue
			}
			if err := w.entry(k, v, nil); err != nil {
				return nil, err
			}
		}
	}
	if p.metaLine == 0 {
		return nil, fmt.Errorf("sops: %s: no sops metadata at the top of the first document", file)
	}
	return p, nil
}

// yamlMetadata records the sops mapping of document doc: its bytes to
// blank, and for the first document its content.
func (p *parsed) yamlMetadata(doc int, k, v *yaml.Node, lines []int) error {
	if doc == 0 {
		if p.metaLine != 0 {
			return fmt.Errorf("sops: %s:%d: a second sops key", p.file, k.Line)
		}
		p.metaLine = k.Line
		if v.Kind != yaml.MappingNode {
			p.metaErr = errors.New("not a mapping")
		} else if err := v.Decode(&p.meta); err != nil {
			p.metaErr = err
		}
		for i := 0; i+1 < len(v.Content); i += 2 {
			if v.Content[i].Value == "mac" {
				p.macLine = v.Content[i].Line
			}
		}
	}
	s, err := metadataSpan(p.data, lines, k, v)
	if err != nil {
		return fmt.Errorf("sops: %s:%d: %w", p.file, k.Line, err)
	}
	p.blank = append(p.blank, s)
	return nil
}

// metadataSpan returns the bytes of the sops entry: in JSON from the key
// to the closing brace and one comma, in block YAML the key's line and the
// lines indented deeper.
func metadataSpan(data []byte, lines []int, k, v *yaml.Node) (span, error) {
	start := offset(data, lines, k.Line, k.Column)
	if v.Style&yaml.FlowStyle != 0 || (start < len(data) && data[start] == '"') {
		vs := offset(data, lines, v.Line, v.Column)
		end, ok := matchBrace(data, vs)
		if !ok {
			return span{}, errors.New("sops metadata: unterminated mapping")
		}
		if j := skipSpace(data, end); j < len(data) && data[j] == ',' {
			return span{start, j + 1}, nil
		}
		if j := skipSpaceBack(data, start); j > 0 && data[j-1] == ',' {
			return span{j - 1, end}, nil
		}
		return span{start, end}, nil
	}
	indent := k.Column - 1
	end := len(data)
	for l := k.Line; l < len(lines); l++ { // lines[l] starts line l+1
		line := data[lines[l]:lineEnd(data, lines[l])]
		t := bytes.TrimLeft(line, " ")
		if len(bytes.TrimSpace(t)) != 0 && len(line)-len(t) <= indent {
			end = lines[l] - 1
			break
		}
	}
	return span{lines[k.Line-1], end}, nil
}

// yamlWalker collects the leaves of a document.
type yamlWalker struct {
	p     *parsed
	lines []int
}

func (w *yamlWalker) entry(k, v *yaml.Node, path []string) error {
	var key any
	if k.Kind != yaml.ScalarNode || k.Decode(&key) != nil {
		return fmt.Errorf("sops: %s:%d: a mapping key that is not a scalar", w.p.file, k.Line)
	}
	s, ok := key.(string)
	if !ok {
		return fmt.Errorf("sops: %s:%d: key %q is not a string; SOPS supports string keys only", w.p.file, k.Line, k.Value)
	}
	return w.node(v, append(append([]string{}, path...), s))
}

func (w *yamlWalker) node(n *yaml.Node, path []string) error {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := w.entry(n.Content[i], n.Content[i+1], path); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if err := w.node(item, path); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		return w.scalar(n, path)
	default:
		return fmt.Errorf("sops: %s:%d: aliases are not supported in encrypted files", w.p.file, n.Line)
	}
	return nil
}

func (w *yamlWalker) scalar(n *yaml.Node, path []string) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("sops: %s:%d: value at %v cannot be read", w.p.file, n.Line, path)
	}
	l := leaf{path: path, line: n.Line}
	switch v := v.(type) {
	case nil:
	case string:
		l.str, l.text, l.mac = true, v, []byte(v)
	case int:
		l.mac = []byte(strconv.Itoa(v))
	case float64:
		l.mac = []byte(strconv.FormatFloat(v, 'f', -1, 64))
	case bool:
		l.mac = boolBytes(v)
	default:
		return fmt.Errorf("sops: %s:%d: value at %v has a type SOPS does not support (%T)", w.p.file, n.Line, path, v)
	}
	if l.str && len(l.text) > 4 && l.text[:4] == "ENC[" {
		start := offset(w.p.data, w.lines, n.Line, n.Column)
		end := bytes.IndexByte(w.p.data[start:], ']')
		if end < 0 {
			return fmt.Errorf("sops: %s:%d: value at %v: unterminated ENC[", w.p.file, n.Line, path)
		}
		end += start + 1
		if q := w.p.data[start]; (q == '"' || q == '\'') && end < len(w.p.data) && w.p.data[end] == q {
			end++
		}
		l.start, l.end = start, end
	}
	w.p.leaves = append(w.p.leaves, l)
	return nil
}

// lineStarts returns the byte offset of each line's start.
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// offset converts a 1-based line and column (in characters, as the YAML
// parser counts) to a byte offset.
func offset(data []byte, lines []int, line, col int) int {
	if line < 1 || line > len(lines) {
		return len(data)
	}
	i := lines[line-1]
	for c := 1; c < col && i < len(data); c++ {
		_, size := utf8.DecodeRune(data[i:])
		i += size
	}
	return i
}

func lineEnd(data []byte, start int) int {
	if i := bytes.IndexByte(data[start:], '\n'); i >= 0 {
		return start + i
	}
	return len(data)
}

// matchBrace returns the offset just after the flow mapping starting at
// data[start] == '{', skipping quoted strings.
func matchBrace(data []byte, start int) (int, bool) {
	depth := 0
	for i := start; i < len(data); i++ {
		switch data[i] {
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

func skipSpaceBack(data []byte, i int) int {
	for i > 0 && (data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n' || data[i-1] == '\r') {
		i--
	}
	return i
}
