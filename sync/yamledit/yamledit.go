package yamledit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Errors wrapped by SetReplicas and SetImage. Check them with errors.Is.
var (
	// ErrNotFound means the object, container or field is not in the file.
	ErrNotFound = errors.New("not found")
	// ErrUnsupported means the target is written in a way that cannot be
	// edited in place (block scalar, multi-line plain scalar, alias), or the
	// file is not valid YAML.
	ErrUnsupported = errors.New("cannot edit in place")
)

// SetReplicas sets spec.replicas of the object kind namespace/name in data, a
// file of one or more YAML documents, and returns the new file. Only the
// number's bytes change. When spec.replicas is absent, a "replicas: N" line
// is inserted as the first key under spec, indented like its siblings (in a
// flow mapping, "replicas: N, " after the opening brace).
func SetReplicas(data []byte, kind, namespace, name string, replicas int32) ([]byte, error) {
	e, obj, err := find(data, kind, namespace, name)
	if err != nil {
		return nil, err
	}
	id := objectID(kind, namespace, name)
	specKey, spec := get(obj, "spec")
	if spec == nil || spec.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("yamledit: %s: spec: %w (no spec mapping)", id, ErrNotFound)
	}
	want := strconv.FormatInt(int64(replicas), 10)
	_, cur := get(spec, "replicas")
	var out []byte
	if cur != nil {
		if cur.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("yamledit: %s: spec.replicas: %w: not a scalar", id, ErrUnsupported)
		}
		out, err = e.replaceScalar(cur, want)
		if err != nil {
			return nil, fmt.Errorf("yamledit: %s: spec.replicas: %w", id, err)
		}
	} else {
		out, err = e.insertFirstKey(specKey, spec, "replicas", want)
		if err != nil {
			return nil, fmt.Errorf("yamledit: %s: spec.replicas: %w", id, err)
		}
	}
	// Check the result says what was asked.
	_, obj2, err := find(out, kind, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("yamledit: %s: spec.replicas: the edited file does not parse back: %w", id, err)
	}
	_, spec2 := get(obj2, "spec")
	_, r := get(spec2, "replicas")
	if r == nil || r.Kind != yaml.ScalarNode || r.Value != want {
		return nil, fmt.Errorf("yamledit: %s: spec.replicas: %w: the edited file does not read back as %s", id, ErrUnsupported, want)
	}
	return out, nil
}

// SetImage sets the image of the container named container in the object
// kind namespace/name and returns the new file. The container is looked up
// in spec.template.spec.containers, then initContainers (for Pods, in
// spec.containers and spec.initContainers; for CronJobs, under
// spec.jobTemplate.spec.template.spec). The image keeps the original
// quoting style when it can be written in it; a plain scalar that would not
// read back as the same string is double-quoted.
func SetImage(data []byte, kind, namespace, name, container, image string) ([]byte, error) {
	e, obj, err := find(data, kind, namespace, name)
	if err != nil {
		return nil, err
	}
	id := objectID(kind, namespace, name)
	node, field, err := findImage(obj, id, container)
	if err != nil {
		return nil, err
	}
	if node.Kind != yaml.ScalarNode && node.Kind != yaml.AliasNode {
		return nil, fmt.Errorf("yamledit: %s: %s: %w: not a scalar", id, field, ErrUnsupported)
	}
	var out []byte
	for _, text := range scalarCandidates(node.Style, image) {
		o, err := e.replaceScalar(node, text)
		if err != nil {
			return nil, fmt.Errorf("yamledit: %s: %s: %w", id, field, err)
		}
		_, obj2, err := find(o, kind, namespace, name)
		if err != nil {
			continue
		}
		n2, _, err := findImage(obj2, id, container)
		if err == nil && n2.Kind == yaml.ScalarNode && n2.Value == image && n2.ShortTag() == "!!str" {
			out = o
			break
		}
	}
	if out == nil {
		return nil, fmt.Errorf("yamledit: %s: %s: %w: %q cannot be written back so that it reads as the same string", id, field, ErrUnsupported, image)
	}
	return out, nil
}

// findImage returns the image node of container in obj and its field path.
func findImage(obj *yaml.Node, id, container string) (*yaml.Node, string, error) {
	_, spec := get(obj, "spec")
	prefix := "spec"
	if _, jt := get(spec, "jobTemplate"); jt != nil { // a CronJob's Job template
		_, spec = get(jt, "spec")
		prefix = "spec.jobTemplate.spec"
	}
	if _, tmpl := get(spec, "template"); tmpl != nil {
		_, spec = get(tmpl, "spec")
		prefix += ".template.spec"
	}
	if spec == nil {
		return nil, "", fmt.Errorf("yamledit: %s: %s: %w", id, prefix, ErrNotFound)
	}
	var names []string
	for _, list := range []string{"containers", "initContainers"} {
		_, seq := get(spec, list)
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		for i, c := range seq.Content {
			c = deref(c)
			_, n := get(c, "name")
			if n == nil {
				continue
			}
			names = append(names, n.Value)
			if n.Value != container {
				continue
			}
			field := fmt.Sprintf("%s.%s[%d].image", prefix, list, i)
			_, img := get(c, "image")
			if img == nil {
				return nil, "", fmt.Errorf("yamledit: %s: %s: %w", id, field, ErrNotFound)
			}
			return img, field, nil
		}
	}
	return nil, "", fmt.Errorf("yamledit: %s: %s.containers: container %q %w (containers: %s)", id, prefix, container, ErrNotFound, strings.Join(names, ", "))
}

// scalarCandidates are the ways of writing s, best first: the original
// style, then double-quoted.
func scalarCandidates(style yaml.Style, s string) []string {
	dq := strconv.Quote(s)
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		return []string{dq}
	case style&yaml.SingleQuotedStyle != 0:
		if strings.ContainsAny(s, "\n\r") {
			return []string{dq}
		}
		return []string{"'" + strings.ReplaceAll(s, "'", "''") + "'", dq}
	default:
		if s == "" || strings.ContainsAny(s, "\n\r\t #,[]{}\"'") {
			return []string{dq}
		}
		return []string{s, dq}
	}
}

func objectID(kind, namespace, name string) string {
	if namespace == "" {
		namespace = "default"
	}
	return kind + " " + namespace + "/" + name
}

// editor holds the original bytes and where each line starts.
type editor struct {
	data  []byte
	lines []int // byte offset of the start of each line
}

func newEditor(data []byte) *editor {
	e := &editor{data: data, lines: []int{0}}
	for i, b := range data {
		if b == '\n' {
			e.lines = append(e.lines, i+1)
		}
	}
	return e
}

// offset turns yaml.v3's 1-based line and column (counted in characters)
// into a byte offset.
func (e *editor) offset(line, col int) (int, error) {
	if line < 1 || line > len(e.lines) {
		return 0, fmt.Errorf("%w: line %d out of range", ErrUnsupported, line)
	}
	off := e.lines[line-1]
	for i := 1; i < col; i++ {
		if off >= len(e.data) || e.data[off] == '\n' {
			return 0, fmt.Errorf("%w: column %d past the end of line %d", ErrUnsupported, col, line)
		}
		_, w := utf8.DecodeRune(e.data[off:])
		off += w
	}
	return off, nil
}

// span returns the byte range of scalar n's text (quotes included, anchor
// and tag excluded).
func (e *editor) span(n *yaml.Node) (int, int, error) {
	if n.Kind == yaml.AliasNode {
		return 0, 0, fmt.Errorf("%w: the value is an alias (*%s); edit the anchor instead", ErrUnsupported, n.Value)
	}
	start, err := e.offset(n.Line, n.Column)
	if err != nil {
		return 0, 0, err
	}
	d := e.data
	// Skip "&anchor" and "!tag" properties.
	for start < len(d) && (d[start] == '&' || d[start] == '!') {
		for start < len(d) && d[start] != ' ' && d[start] != '\t' && d[start] != '\n' && d[start] != '\r' {
			start++
		}
		for start < len(d) && (d[start] == ' ' || d[start] == '\t') {
			start++
		}
	}
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, 0, fmt.Errorf("%w: block scalars (| or >) are not rewritten", ErrUnsupported)
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if start >= len(d) || d[start] != '"' {
			return 0, 0, fmt.Errorf("%w: no opening quote at line %d", ErrUnsupported, n.Line)
		}
		for i := start + 1; i < len(d); i++ {
			switch d[i] {
			case '\\':
				i++
			case '"':
				return start, i + 1, nil
			}
		}
		return 0, 0, fmt.Errorf("%w: unterminated double-quoted scalar at line %d", ErrUnsupported, n.Line)
	case n.Style&yaml.SingleQuotedStyle != 0:
		if start >= len(d) || d[start] != '\'' {
			return 0, 0, fmt.Errorf("%w: no opening quote at line %d", ErrUnsupported, n.Line)
		}
		for i := start + 1; i < len(d); i++ {
			if d[i] == '\'' {
				if i+1 < len(d) && d[i+1] == '\'' {
					i++
					continue
				}
				return start, i + 1, nil
			}
		}
		return 0, 0, fmt.Errorf("%w: unterminated single-quoted scalar at line %d", ErrUnsupported, n.Line)
	default:
		if !bytes.HasPrefix(d[start:], []byte(n.Value)) || n.Value == "" {
			return 0, 0, fmt.Errorf("%w: the plain scalar at line %d spans several lines or is empty", ErrUnsupported, n.Line)
		}
		return start, start + len(n.Value), nil
	}
}

// replaceScalar returns the data with n's text replaced by text.
func (e *editor) replaceScalar(n *yaml.Node, text string) ([]byte, error) {
	start, end, err := e.span(n)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(e.data)-(end-start)+len(text))
	out = append(out, e.data[:start]...)
	out = append(out, text...)
	out = append(out, e.data[end:]...)
	return out, nil
}

// insertFirstKey inserts "key: value" as the first entry of mapping m, whose
// key node is mKey.
func (e *editor) insertFirstKey(mKey, m *yaml.Node, key, value string) ([]byte, error) {
	var at int
	var text string
	if m.Style&yaml.FlowStyle != 0 {
		off, err := e.offset(m.Line, m.Column)
		if err != nil {
			return nil, err
		}
		// Skip properties (&anchor, !tag) up to the brace.
		for off < len(e.data) && e.data[off] != '{' && e.data[off] != '\n' {
			off++
		}
		if off >= len(e.data) || e.data[off] != '{' {
			return nil, fmt.Errorf("%w: no '{' where the flow mapping starts (line %d)", ErrUnsupported, m.Line)
		}
		k := key
		if len(m.Content) > 0 && m.Content[0].Style&yaml.DoubleQuotedStyle != 0 {
			k = strconv.Quote(key) // JSON
		}
		at = off + 1
		text = k + ": " + value
		if len(m.Content) > 0 {
			text += ", "
			if first := m.Content[0]; first.Line > m.Line {
				// One entry per line: add a line of our own, indented alike.
				lineStart := e.lines[first.Line-1]
				firstOff, err := e.offset(first.Line, first.Column)
				if err != nil {
					return nil, err
				}
				if indent := string(e.data[lineStart:firstOff]); strings.Trim(indent, " \t") == "" {
					eol := "\n"
					if lineStart >= 2 && e.data[lineStart-2] == '\r' {
						eol = "\r\n"
					}
					at = lineStart
					text = indent + k + ": " + value + "," + eol
				}
			}
		}
	} else {
		if mKey == nil || len(m.Content) == 0 {
			return nil, fmt.Errorf("%w: empty mapping", ErrUnsupported)
		}
		first := m.Content[0]
		if first.Line <= mKey.Line {
			return nil, fmt.Errorf("%w: the mapping starts on the line of its key (line %d)", ErrUnsupported, mKey.Line)
		}
		if mKey.Line >= len(e.lines) {
			return nil, fmt.Errorf("%w: no line after line %d", ErrUnsupported, mKey.Line)
		}
		at = e.lines[mKey.Line] // start of the line after the key
		eol := "\n"
		if at >= 2 && e.data[at-2] == '\r' {
			eol = "\r\n"
		}
		lineStart := e.lines[first.Line-1]
		firstOff, err := e.offset(first.Line, first.Column)
		if err != nil {
			return nil, err
		}
		indent := string(e.data[lineStart:firstOff])
		if strings.Trim(indent, " ") != "" {
			return nil, fmt.Errorf("%w: the first key of the mapping (line %d) does not start its line", ErrUnsupported, first.Line)
		}
		text = indent + key + ": " + value + eol
	}
	out := make([]byte, 0, len(e.data)+len(text))
	out = append(out, e.data[:at]...)
	out = append(out, text...)
	out = append(out, e.data[at:]...)
	return out, nil
}

// find parses data and returns the mapping of the object kind namespace/name.
func find(data []byte, kind, namespace, name string) (*editor, *yaml.Node, error) {
	if namespace == "" {
		namespace = "default"
	}
	id := objectID(kind, namespace, name)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var found *yaml.Node
	for i := 1; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("yamledit: document %d: %w: %w", i, ErrUnsupported, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		for _, obj := range objects(deref(doc.Content[0])) {
			if matches(obj, kind, namespace, name) {
				if found != nil {
					return nil, nil, fmt.Errorf("yamledit: %s is defined twice (lines %d and %d)", id, found.Line, obj.Line)
				}
				found = obj
			}
		}
	}
	if found == nil {
		return nil, nil, fmt.Errorf("yamledit: %s: %w in the file", id, ErrNotFound)
	}
	return newEditor(data), found, nil
}

// objects returns root, or the items of a "kind: List".
func objects(root *yaml.Node) []*yaml.Node {
	if root.Kind != yaml.MappingNode {
		return nil
	}
	if _, k := get(root, "kind"); k != nil && k.Value == "List" {
		_, items := get(root, "items")
		if items == nil || items.Kind != yaml.SequenceNode {
			return nil
		}
		var out []*yaml.Node
		for _, it := range items.Content {
			if it = deref(it); it.Kind == yaml.MappingNode {
				out = append(out, it)
			}
		}
		return out
	}
	return []*yaml.Node{root}
}

func matches(obj *yaml.Node, kind, namespace, name string) bool {
	_, k := get(obj, "kind")
	if k == nil || k.Value != kind {
		return false
	}
	_, md := get(obj, "metadata")
	_, n := get(md, "name")
	if n == nil || n.Value != name {
		return false
	}
	ns := "default"
	if _, v := get(md, "namespace"); v != nil && v.Value != "" {
		ns = v.Value
	}
	return ns == namespace
}

// get returns the key and value nodes of key in mapping m (aliases of the
// value followed), or nils.
func get(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Kind == yaml.AliasNode && v.Alias != nil && v.Alias.Kind != yaml.ScalarNode {
				v = v.Alias
			}
			return m.Content[i], v
		}
	}
	return nil, nil
}

// deref follows an alias to its anchor.
func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}
