package manifests

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// source remembers where an object came from, to map field paths to lines.
type source struct {
	root   *yaml.Node // the object's mapping
	offset int        // added to node lines
}

// line returns the line of the field at path (a path as field.Path prints
// it), or of its closest ancestor that is in the file; found reports whether
// the field itself is in the file.
func (s *source) line(path string) (line int, found bool) {
	n, found := lookupPath(s.root, path)
	return n.Line + s.offset, found
}

// findPath returns the node of path in root, or nil when it is not there.
func findPath(root *yaml.Node, path string) *yaml.Node {
	n, ok := lookupPath(root, path)
	if !ok {
		return nil
	}
	return n
}

// lookupPath walks path from root. It returns the key node for mapping
// entries (so the line is the key's), the item for list entries, and the
// deepest node reached when the path leaves the file.
func lookupPath(root *yaml.Node, path string) (*yaml.Node, bool) {
	cur := root // for line reporting
	val := root // for descending
	for path != "" {
		var seg string
		bracket := false
		switch path[0] {
		case '.':
			path = path[1:]
			continue
		case '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return cur, false
			}
			seg, path = path[1:end], path[end+1:]
			bracket = true
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			seg, path = path[:end], path[end:]
		}
		v := deref(val)
		if v == nil {
			return cur, false
		}
		switch v.Kind {
		case yaml.MappingNode:
			found := false
			for _, p := range mappingPairs(v) {
				if p.key.Value == seg {
					cur, val, found = p.key, p.val, true
					break
				}
			}
			if !found {
				return cur, false
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(seg)
			if !bracket || err != nil || i < 0 || i >= len(v.Content) {
				return cur, false
			}
			cur, val = deref(v.Content[i]), v.Content[i]
		default:
			return cur, false
		}
	}
	return cur, true
}
