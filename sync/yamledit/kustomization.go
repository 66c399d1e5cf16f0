package yamledit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EntryField is one field of a named entry of a kustomization list (an
// images: or replicas: item): its key, its value and the YAML tag the
// value must read back as ("!!str", "!!int").
type EntryField struct {
	Key, Value, Tag string
}

// SetImageEntry makes the images: entry of the kustomization data whose
// name is name say newName, newTag and digest (an empty one is left out,
// and removed from an existing entry), as `kustomize edit set image`
// does. The entry is added at the end of images: when missing, and
// images: at the end of the file when the file has none.
func SetImageEntry(data []byte, name, newName, newTag, digest string) ([]byte, error) {
	var set []EntryField
	var drop []string
	for _, f := range []EntryField{{"newName", newName, "!!str"}, {"newTag", newTag, "!!str"}, {"digest", digest, "!!str"}} {
		if f.Value == "" {
			drop = append(drop, f.Key)
			continue
		}
		set = append(set, f)
	}
	return SetNamedEntry(data, "images", name, set, drop)
}

// SetReplicasEntry makes the replicas: entry of the kustomization data
// whose name is name have count replicas, adding the entry (and
// replicas:) when missing.
func SetReplicasEntry(data []byte, name string, count int32) ([]byte, error) {
	return SetNamedEntry(data, "replicas", name,
		[]EntryField{{Key: "count", Value: strconv.Itoa(int(count)), Tag: "!!int"}}, nil)
}

// SetNamedEntry edits the item of the top-level block sequence key of
// data (a kustomization) whose name: is name: it sets the fields of set
// (changing existing scalars in place, adding missing ones as new lines
// after the item's last line) and removes the single-line fields named in
// drop. A missing item is appended to the sequence, a missing key to the
// end of the file. Comments and the rest of the file are kept. Flow-style
// sequences and non-scalar fields are refused with ErrUnsupported. The
// result is parsed again and checked.
func SetNamedEntry(data []byte, key, name string, set []EntryField, drop []string) ([]byte, error) {
	field := key + "[name=" + name + "]"
	out, err := setNamedEntry(data, key, name, set, drop)
	if err != nil {
		return nil, fmt.Errorf("yamledit: %s: %w", field, err)
	}
	if err := checkEntry(out, key, name, set, drop); err != nil {
		return nil, fmt.Errorf("yamledit: %s: %w", field, err)
	}
	return out, nil
}

func setNamedEntry(data []byte, key, name string, set []EntryField, drop []string) ([]byte, error) {
	root, err := topMapping(data)
	if err != nil {
		return nil, err
	}
	_, seq := get(root, key)
	if seq == nil || (seq.Kind == yaml.ScalarNode && seq.Tag == "!!null") {
		return appendKey(data, root, key, name, set)
	}
	if seq.Kind != yaml.SequenceNode || seq.Style&yaml.FlowStyle != 0 {
		return nil, fmt.Errorf("%w: %s is not a block sequence", ErrUnsupported, key)
	}
	idx := entryIndex(seq, name)
	if idx < 0 {
		return insertLines(data, lastLine(seq), entryLines(dashIndent(data, seq.Content[0]), name, set))
	}
	out := data
	for _, f := range set {
		out, err = setEntryField(out, key, idx, f)
		if err != nil {
			return nil, err
		}
	}
	for _, k := range drop {
		out, err = dropEntryField(out, key, idx, k)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// topMapping returns the first document's top-level mapping (nil for an
// empty file).
func topMapping(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: the document is not a mapping", ErrUnsupported)
	}
	if m.Style&yaml.FlowStyle != 0 {
		return nil, fmt.Errorf("%w: the document is a flow mapping", ErrUnsupported)
	}
	return m, nil
}

// appendKey adds key with one entry to the end of data, or right after an
// empty "key:" line.
func appendKey(data []byte, root *yaml.Node, key, name string, set []EntryField) ([]byte, error) {
	lines := entryLines(0, name, set)
	if root != nil {
		if k, v := get(root, key); k != nil && v != nil {
			return insertLines(data, k.Line, lines)
		}
	}
	out := append([]byte{}, data...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, key+":\n"...)
	return append(out, strings.Join(lines, "")...), nil
}

// entryIndex returns the index of the item of seq whose name is name.
func entryIndex(seq *yaml.Node, name string) int {
	for i, item := range seq.Content {
		if _, n := get(deref(item), "name"); n != nil && n.Kind == yaml.ScalarNode && n.Value == name {
			return i
		}
	}
	return -1
}

// entryLines renders a new sequence item with its dash at column indent.
func entryLines(indent int, name string, set []EntryField) []string {
	pad := strings.Repeat(" ", indent)
	lines := []string{pad + "- name: " + scalarText(name, "!!str") + "\n"}
	for _, f := range set {
		lines = append(lines, pad+"  "+f.Key+": "+scalarText(f.Value, f.Tag)+"\n")
	}
	return lines
}

// scalarText writes value as a plain scalar when it reads back with tag,
// else double-quoted.
func scalarText(value, tag string) string {
	if tag != "!!str" {
		return value
	}
	for _, c := range scalarCandidates(0, value) {
		var n yaml.Node
		if yaml.Unmarshal([]byte("k: "+c), &n) == nil && len(n.Content) == 1 {
			if _, v := get(n.Content[0], "k"); v != nil && v.Value == value && v.ShortTag() == "!!str" {
				return c
			}
		}
	}
	return strconv.Quote(value)
}

// dashIndent returns the column (0-based) of the dash of a block sequence
// item.
func dashIndent(data []byte, item *yaml.Node) int {
	lines := bytes.Split(data, []byte("\n"))
	if item.Line-1 < len(lines) {
		if i := bytes.IndexByte(lines[item.Line-1], '-'); i >= 0 {
			return i
		}
	}
	return max(item.Column-3, 0)
}

// lastLine returns the last line any node under n is on.
func lastLine(n *yaml.Node) int {
	l := n.Line
	for _, c := range n.Content {
		l = max(l, lastLine(c))
	}
	return l
}

// insertLines inserts text after line (1-based) of data.
func insertLines(data []byte, line int, text []string) ([]byte, error) {
	e := newEditor(data)
	var at int
	if line >= len(e.lines) {
		at = len(data)
	} else {
		off, err := e.offset(line+1, 1)
		if err != nil {
			return nil, err
		}
		at = off
	}
	var out []byte
	out = append(out, data[:at]...)
	if at > 0 && out[at-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, strings.Join(text, "")...)
	return append(out, data[at:]...), nil
}

// setEntryField sets (or adds) field f of item idx of sequence key.
func setEntryField(data []byte, key string, idx int, f EntryField) ([]byte, error) {
	path := []string{key, "[" + strconv.Itoa(idx) + "]", f.Key}
	out, err := SetPath(data, path, f.Value, f.Tag)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return out, err
	}
	root, err := topMapping(data)
	if err != nil {
		return nil, err
	}
	_, seq := get(root, key)
	item := deref(seq.Content[idx])
	nameKey, _ := get(item, "name")
	if item.Style&yaml.FlowStyle != 0 || nameKey == nil {
		return nil, fmt.Errorf("%w: %s[%d] is not a block mapping", ErrUnsupported, key, idx)
	}
	pad := strings.Repeat(" ", nameKey.Column-1)
	return insertLines(data, lastLine(item), []string{pad + f.Key + ": " + scalarText(f.Value, f.Tag) + "\n"})
}

// dropEntryField removes the line of a single-line scalar field of item idx.
func dropEntryField(data []byte, key string, idx int, field string) ([]byte, error) {
	root, err := topMapping(data)
	if err != nil {
		return nil, err
	}
	_, seq := get(root, key)
	item := deref(seq.Content[idx])
	k, v := get(item, field)
	if k == nil {
		return data, nil
	}
	nameKey, _ := get(item, "name")
	if v.Kind != yaml.ScalarNode || v.Line != k.Line || k.Line == nameKey.Line || lastLine(v) != k.Line {
		return nil, fmt.Errorf("%w: %s[%d].%s cannot be removed line by line", ErrUnsupported, key, idx, field)
	}
	e := newEditor(data)
	start, err := e.offset(k.Line, 1)
	if err != nil {
		return nil, err
	}
	end := len(data)
	if k.Line < len(e.lines) {
		if end, err = e.offset(k.Line+1, 1); err != nil {
			return nil, err
		}
	}
	return append(append([]byte{}, data[:start]...), data[end:]...), nil
}

// checkEntry parses out again and checks the entry says exactly what was
// asked.
func checkEntry(out []byte, key, name string, set []EntryField, drop []string) error {
	root, err := topMapping(out)
	if err != nil || root == nil {
		return fmt.Errorf("%w: the edited file does not parse back: %v", ErrUnsupported, err)
	}
	_, seq := get(root, key)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return fmt.Errorf("%w: the edited file has no %s sequence", ErrUnsupported, key)
	}
	idx := entryIndex(seq, name)
	if idx < 0 {
		return fmt.Errorf("%w: the edited file has no entry named %q", ErrUnsupported, name)
	}
	item := deref(seq.Content[idx])
	for _, f := range set {
		_, v := get(item, f.Key)
		if v == nil || v.Kind != yaml.ScalarNode || v.Value != f.Value || v.ShortTag() != f.Tag {
			return fmt.Errorf("%w: %s does not read back as %q", ErrUnsupported, f.Key, f.Value)
		}
	}
	for _, k := range drop {
		if kn, _ := get(item, k); kn != nil {
			return fmt.Errorf("%w: %s is still there", ErrUnsupported, k)
		}
	}
	return nil
}
