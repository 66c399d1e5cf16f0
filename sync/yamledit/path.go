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

// SetPath sets the scalar at path in the first document of data (a values
// file, a kustomization) and returns the new file; only that scalar's
// bytes change. Path elements are mapping keys, or "[N]" for the N-th item
// of a sequence. The scalar must exist. value is written as a plain scalar
// when the old one was plain and value reads back with tag (e.g. "!!int"
// for a number, "!!str" for a string; "" keeps whatever tag the text reads
// as), else double-quoted for strings; the result is parsed again and
// checked.
func SetPath(data []byte, path []string, value, tag string) ([]byte, error) {
	e := newEditor(data)
	field := strings.Join(path, ".")
	node, err := lookupScalar(data, path)
	if err != nil {
		return nil, fmt.Errorf("yamledit: %s: %w", field, err)
	}
	if node.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("yamledit: %s: %w: not a scalar", field, ErrUnsupported)
	}
	cands := scalarCandidates(node.Style, value)
	if tag != "" && tag != "!!str" {
		cands = []string{value} // numbers and booleans are written plain
	}
	for _, text := range cands {
		out, err := e.replaceScalar(node, text)
		if err != nil {
			return nil, fmt.Errorf("yamledit: %s: %w", field, err)
		}
		n2, err := lookupScalar(out, path)
		if err != nil || n2.Kind != yaml.ScalarNode || n2.Value != value {
			continue
		}
		if tag != "" && n2.ShortTag() != tag {
			continue
		}
		return out, nil
	}
	return nil, fmt.Errorf("yamledit: %s: %w: %q cannot be written so that it reads back as the same value", field, ErrUnsupported, value)
}

// lookupScalar returns the node at path in the first document of data.
func lookupScalar(data []byte, path []string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrNotFound)
	}
	n := doc.Content[0]
	for i, p := range path {
		n = deref(n)
		if strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]") {
			idx, err := strconv.Atoi(p[1 : len(p)-1])
			if err != nil || n == nil || n.Kind != yaml.SequenceNode || idx < 0 || idx >= len(n.Content) {
				return nil, fmt.Errorf("%s: %w", strings.Join(path[:i+1], "."), ErrNotFound)
			}
			n = n.Content[idx]
			continue
		}
		_, v := get(n, p)
		if v == nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(path[:i+1], "."), ErrNotFound)
		}
		n = v
	}
	return n, nil
}
