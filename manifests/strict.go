package manifests

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bosun-dev/bosun/internal/editdistance"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
)

const (
	// maxDepth bounds how deeply a document may nest.
	maxDepth = 100
	// maxAliasExpansion bounds how many nodes alias expansion may add to a
	// document beyond the nodes written out in it.
	maxAliasExpansion = 10000
	// maxDocumentProblems bounds the problems reported for one document.
	maxDocumentProblems = 100
)

// pathElem is one element of a field path, linked to its parent; the path is
// rendered only when a problem needs it.
type pathElem struct {
	parent *pathElem
	name   string // field name or map key
	index  int
	kind   byte // 'f' field, 'k' map key, 'i' index
}

func (p *pathElem) String() string {
	if p == nil {
		return ""
	}
	var elems []*pathElem
	for e := p; e != nil; e = e.parent {
		elems = append(elems, e)
	}
	var b strings.Builder
	for i := len(elems) - 1; i >= 0; i-- {
		e := elems[i]
		switch e.kind {
		case 'f':
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e.name)
		case 'k':
			b.WriteByte('[')
			b.WriteString(e.name)
			b.WriteByte(']')
		case 'i':
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.index))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// pair is one key/value of a YAML mapping after merge keys are applied.
type pair struct {
	key, val *yaml.Node
}

// deref follows aliases (bounded, as yaml.v3 rejects alias cycles).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// mappingPairs returns the pairs of mapping n with YAML merge keys ("<<")
// resolved: explicit keys win over merged ones, earlier merges over later.
func mappingPairs(n *yaml.Node) []pair {
	return mappingPairsDepth(n, 0)
}

func mappingPairsDepth(n *yaml.Node, depth int) []pair {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	hasMerge := false
	out := make([]pair, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			hasMerge = true
			continue
		}
		out = append(out, pair{k, n.Content[i+1]})
	}
	if !hasMerge || depth > 10 {
		return out
	}
	seen := make(map[string]bool, len(out))
	for _, p := range out {
		seen[p.key.Value] = true
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !(k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge") {
			continue
		}
		v := deref(n.Content[i+1])
		var srcs []*yaml.Node
		if v != nil && v.Kind == yaml.SequenceNode {
			srcs = v.Content
		} else {
			srcs = []*yaml.Node{v}
		}
		for _, s := range srcs {
			for _, p := range mappingPairsDepth(s, depth+1) {
				if !seen[p.key.Value] {
					seen[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// countNodes counts the nodes of a tree without following aliases.
func countNodes(n *yaml.Node, depth int) int {
	if n == nil || depth > maxDepth+10 {
		return 0
	}
	c := 1
	for _, ch := range n.Content {
		c += countNodes(ch, depth+1)
	}
	return c
}

// walker checks a YAML node tree against a Go type strictly (unknown fields,
// duplicate keys, wrong scalar types, invalid quantities) and renders it as
// JSON for encoding/json.
type walker struct {
	offset   int // added to node lines
	problems []walkProblem
	budget   int // remaining node visits
	aborted  bool
	buf      []byte
	// secret is set for a Secret: values under data and stringData are
	// never quoted in problems.
	secret bool
}

// walkProblem is a problem found while walking, before file and object are known.
type walkProblem struct {
	line    int
	field   string
	message string
	// dropped is true when the value at field was left out of the decoded
	// object, so validation errors about it would only repeat this problem.
	dropped bool
}

// fail reports a value that is left out of the decoded object.
func (w *walker) fail(n *yaml.Node, path *pathElem, format string, args ...any) {
	w.report(n, path, true, format, args...)
}

// report records a problem at node n.
func (w *walker) report(n *yaml.Node, path *pathElem, dropped bool, format string, args ...any) {
	if w.aborted {
		return
	}
	if len(w.problems) == maxDocumentProblems {
		w.aborted = true
		format, args, path = "more than %d problems in this document; fix these first", []any{maxDocumentProblems}, nil
	}
	line := 0
	if n != nil {
		line = n.Line + w.offset
	}
	w.problems = append(w.problems, walkProblem{line: line, field: path.String(), message: fmt.Sprintf(format, args...), dropped: dropped})
}

// visit accounts for one node visit and reports whether walking may go on.
func (w *walker) visit(n *yaml.Node, path *pathElem, depth int) bool {
	if w.aborted {
		return false
	}
	w.budget--
	if w.budget < 0 {
		w.report(n, nil, false, "document expands YAML aliases to more than %d extra nodes; write the values out instead of using anchors and aliases", maxAliasExpansion)
		w.aborted = true
		return false
	}
	if depth > maxDepth {
		w.report(n, nil, false, "document is nested more than %d levels deep", maxDepth)
		w.aborted = true
		return false
	}
	return true
}

// hidden reports whether the value at path is secret: under data or
// stringData of a Secret.
func (w *walker) hidden(path *pathElem) bool {
	if !w.secret || path == nil {
		return false
	}
	top := path
	for top.parent != nil {
		top = top.parent
	}
	return top.kind == 'f' && (top.name == "data" || top.name == "stringData")
}

// describe is describe(n), without the value when it is secret.
func (w *walker) describe(n *yaml.Node, path *pathElem) string {
	if !w.hidden(path) || n.Kind != yaml.ScalarNode {
		return describe(n)
	}
	switch n.ShortTag() {
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return "a string (not shown: the value is secret)"
}

// describe names the YAML type of a node for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			return "the integer " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "null"
		default:
			return strconv.Quote(n.Value)
		}
	}
	return "an unknown node"
}

// walk checks node n against type t and appends its JSON form to w.buf.
func (w *walker) walk(n *yaml.Node, t *typeInfo, path *pathElem, depth int) {
	if !w.visit(n, path, depth) {
		return
	}
	if n.Kind == yaml.AliasNode {
		w.walk(n.Alias, t, path, depth+1)
		return
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			w.buf = append(w.buf, "null"...)
			return
		}
		w.walk(n.Content[0], t, path, depth+1)
		return
	}
	tag := ""
	if n.Kind == yaml.ScalarNode {
		tag = n.ShortTag()
		if tag == "!!null" {
			w.buf = append(w.buf, "null"...)
			return
		}
		if tag != "" && !strings.HasPrefix(tag, "!!") {
			w.fail(n, path, "unsupported YAML tag %q", n.Tag)
			w.buf = append(w.buf, "null"...)
			return
		}
	}
	switch t.kind {
	case tkAny:
		w.walkAny(n, path, depth)
	case tkStruct:
		w.walkStruct(n, t, path, depth)
	case tkMap:
		w.walkMap(n, t, path, depth)
	case tkSlice:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "must be a list, got %s", w.describe(n, path))
			w.buf = append(w.buf, "null"...)
			return
		}
		w.buf = append(w.buf, '[')
		for i, item := range n.Content {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.walk(item, t.elem, &pathElem{parent: path, index: i, kind: 'i'}, depth+1)
		}
		w.buf = append(w.buf, ']')
	default:
		if n.Kind != yaml.ScalarNode {
			w.fail(n, path, "must be %s, got %s", scalarWant(t), w.describe(n, path))
			w.buf = append(w.buf, "null"...)
			return
		}
		w.walkScalar(n, tag, t, path)
	}
}

func scalarWant(t *typeInfo) string {
	switch t.kind {
	case tkString, tkBytes, tkTime:
		return "a string"
	case tkBool:
		return "a boolean"
	case tkInt, tkUint:
		return "an integer"
	case tkFloat:
		return "a number"
	case tkQuantity:
		return "a quantity such as 100m or 1Gi"
	case tkIntOrString:
		return "an integer or a string"
	}
	return "a scalar"
}

// yaml11Bools are the YAML 1.1 booleans kubectl accepts in boolean fields.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

func (w *walker) walkScalar(n *yaml.Node, tag string, t *typeInfo, path *pathElem) {
	v := n.Value
	switch t.kind {
	case tkString:
		switch tag {
		case "!!str", "!!timestamp", "!!binary":
			w.buf = appendJSONString(w.buf, v)
		default:
			if w.hidden(path) {
				w.fail(n, path, "must be a string, got %s; quote it", w.describe(n, path))
			} else {
				w.fail(n, path, "must be a string, got %s; quote it: %s", describe(n), strconv.Quote(v))
			}
			w.buf = append(w.buf, "null"...)
		}
	case tkBytes:
		if tag != "!!str" && tag != "!!binary" {
			w.fail(n, path, "must be a base64-encoded string, got %s", w.describe(n, path))
			w.buf = append(w.buf, "null"...)
			return
		}
		if _, err := base64.StdEncoding.DecodeString(v); err != nil {
			w.fail(n, path, "invalid base64 data (%v); values under data must be base64-encoded, put plain text under stringData instead", err)
			w.buf = append(w.buf, "null"...)
			return
		}
		w.buf = appendJSONString(w.buf, v)
	case tkTime:
		if tag != "!!str" && tag != "!!timestamp" {
			w.fail(n, path, "must be a timestamp string, got %s", w.describe(n, path))
			w.buf = append(w.buf, "null"...)
			return
		}
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			w.fail(n, path, "invalid timestamp %q: must be RFC 3339, e.g. 2006-01-02T15:04:05Z", v)
			w.buf = append(w.buf, "null"...)
			return
		}
		w.buf = appendJSONString(w.buf, v)
	case tkBool:
		b, ok := false, false
		switch tag {
		case "!!bool":
			b, ok = strings.EqualFold(v, "true"), true
		case "!!str":
			if n.Style == 0 {
				b, ok = yaml11Bools[v]
			}
		}
		if !ok {
			w.fail(n, path, "must be a boolean (true or false), got %s", w.describe(n, path))
			w.buf = append(w.buf, "null"...)
			return
		}
		w.buf = strconv.AppendBool(w.buf, b)
	case tkInt, tkUint:
		if tag != "!!int" {
			w.fail(n, path, "must be an integer, got %s", w.describe(n, path))
			w.buf = append(w.buf, "null"...)
			return
		}
		w.appendInt(n, t, path)
	case tkFloat:
		switch tag {
		case "!!int", "!!float":
			f, err := strconv.ParseFloat(strings.ReplaceAll(v, "_", ""), 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				w.fail(n, path, "invalid number %s", v)
				w.buf = append(w.buf, "null"...)
				return
			}
			w.buf = strconv.AppendFloat(w.buf, f, 'g', -1, 64)
		default:
			w.fail(n, path, "must be a number, got %s", w.describe(n, path))
			w.buf = append(w.buf, "null"...)
		}
	case tkQuantity:
		switch tag {
		case "!!str", "!!int", "!!float":
		default:
			w.fail(n, path, "must be a quantity such as 100m or 1Gi, got %s", w.describe(n, path))
			w.buf = append(w.buf, "null"...)
			return
		}
		if _, err := resource.ParseQuantity(strings.TrimSpace(v)); err != nil {
			w.fail(n, path, "invalid quantity %q: must be a number with an optional suffix such as m, Ki, Mi, Gi, k, M or G (e.g. 500m, 1.5, 128Mi)", v)
			w.buf = append(w.buf, "null"...)
			return
		}
		w.buf = appendJSONString(w.buf, strings.TrimSpace(v))
	case tkIntOrString:
		switch tag {
		case "!!int":
			w.appendInt(n, &typeInfo{kind: tkInt, bits: 32}, path)
		case "!!str":
			w.buf = appendJSONString(w.buf, v)
		default:
			w.fail(n, path, "must be an integer or a string, got %s", w.describe(n, path))
			w.buf = append(w.buf, "null"...)
		}
	}
}

func (w *walker) appendInt(n *yaml.Node, t *typeInfo, path *pathElem) {
	v := n.Value
	if t.kind == tkUint {
		u, err := strconv.ParseUint(v, 0, t.bits)
		if err != nil {
			w.fail(n, path, "invalid value %s: must be a non-negative integer that fits in %d bits", v, t.bits)
			w.buf = append(w.buf, "null"...)
			return
		}
		w.buf = strconv.AppendUint(w.buf, u, 10)
		return
	}
	i, err := strconv.ParseInt(v, 0, t.bits)
	if err != nil {
		lo, hi := int64(-1)<<(t.bits-1), int64(1)<<(t.bits-1)-1
		w.fail(n, path, "invalid value %s: must be an integer between %d and %d", v, lo, hi)
		w.buf = append(w.buf, "null"...)
		return
	}
	w.buf = strconv.AppendInt(w.buf, i, 10)
}

// keyString returns the string form of a mapping key, or false when the key
// is not a scalar.
func keyString(k *yaml.Node) (string, bool) {
	k = deref(k)
	if k == nil || k.Kind != yaml.ScalarNode {
		return "", false
	}
	return k.Value, true
}

// dupChecker finds duplicate keys in one mapping.
type dupChecker struct {
	small []*yaml.Node
	big   map[string]*yaml.Node
}

// first returns the earlier key node with the same name, if any, and records k.
func (d *dupChecker) first(name string, k *yaml.Node) *yaml.Node {
	if d.big != nil {
		if prev, ok := d.big[name]; ok {
			return prev
		}
		d.big[name] = k
		return nil
	}
	for _, prev := range d.small {
		if prev.Value == name {
			return prev
		}
	}
	d.small = append(d.small, k)
	if len(d.small) > 16 {
		d.big = make(map[string]*yaml.Node, 32)
		for _, s := range d.small {
			d.big[s.Value] = s
		}
		d.small = nil
	}
	return nil
}

// pairsChecked returns n's pairs and reports duplicate and non-scalar keys.
func (w *walker) pairsChecked(n *yaml.Node, path *pathElem, keyKind byte) []pair {
	ps := mappingPairs(n)
	var d dupChecker
	out := ps[:0:0]
	for _, p := range ps {
		name, ok := keyString(p.key)
		if !ok {
			w.fail(p.key, path, "mapping keys must be strings, got %s", describe(deref(p.key)))
			continue
		}
		if prev := d.first(name, p.key); prev != nil {
			w.report(p.key, &pathElem{parent: path, name: name, kind: keyKind}, false, "duplicate key %q (first set on line %d)", name, prev.Line+w.offset)
			continue
		}
		out = append(out, p)
	}
	return out
}

func (w *walker) walkStruct(n *yaml.Node, t *typeInfo, path *pathElem, depth int) {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "must be a mapping, got %s", w.describe(n, path))
		w.buf = append(w.buf, "null"...)
		return
	}
	w.buf = append(w.buf, '{')
	first := true
	for _, p := range w.pairsChecked(n, path, 'f') {
		name := p.key.Value
		ft, ok := t.fields[name]
		if !ok {
			msg := fmt.Sprintf("unknown field %q", name)
			if s := suggest(name, t.names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			w.report(p.key, &pathElem{parent: path, name: name, kind: 'f'}, false, "%s", msg)
			continue
		}
		if !first {
			w.buf = append(w.buf, ',')
		}
		first = false
		w.buf = appendJSONString(w.buf, name)
		w.buf = append(w.buf, ':')
		w.walk(p.val, ft, &pathElem{parent: path, name: name, kind: 'f'}, depth+1)
	}
	w.buf = append(w.buf, '}')
}

func (w *walker) walkMap(n *yaml.Node, t *typeInfo, path *pathElem, depth int) {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "must be a mapping, got %s", w.describe(n, path))
		w.buf = append(w.buf, "null"...)
		return
	}
	elem := t.elem
	if elem == nil {
		elem = anyType
	}
	w.buf = append(w.buf, '{')
	for i, p := range w.pairsChecked(n, path, 'k') {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = appendJSONString(w.buf, p.key.Value)
		w.buf = append(w.buf, ':')
		w.walk(p.val, elem, &pathElem{parent: path, name: p.key.Value, kind: 'k'}, depth+1)
	}
	w.buf = append(w.buf, '}')
}

// walkAny renders an untyped value.
func (w *walker) walkAny(n *yaml.Node, path *pathElem, depth int) {
	switch n.Kind {
	case yaml.MappingNode:
		w.walkMap(n, anyType, path, depth)
	case yaml.SequenceNode:
		w.buf = append(w.buf, '[')
		for i, item := range n.Content {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.walk(item, anyType, &pathElem{parent: path, index: i, kind: 'i'}, depth+1)
		}
		w.buf = append(w.buf, ']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				w.buf = strconv.AppendInt(w.buf, i, 10)
				return
			}
			w.fail(n, path, "integer %s is out of range", n.Value)
			w.buf = append(w.buf, "null"...)
		case "!!float":
			f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				w.fail(n, path, "invalid number %s", n.Value)
				w.buf = append(w.buf, "null"...)
				return
			}
			w.buf = strconv.AppendFloat(w.buf, f, 'g', -1, 64)
		case "!!bool":
			w.buf = strconv.AppendBool(w.buf, strings.EqualFold(n.Value, "true"))
		default:
			w.buf = appendJSONString(w.buf, n.Value)
		}
	default:
		w.buf = append(w.buf, "null"...)
	}
}

// anyType accepts any value; as a map, its values are untyped too.
var anyType = &typeInfo{kind: tkAny}

// appendJSONString appends s as a JSON string; s must be valid UTF-8.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// suggest returns the candidate closest to name (same letters in another
// case, or at most two edits away), or "".
func suggest(name string, candidates []string) string {
	for _, c := range candidates {
		if strings.EqualFold(c, name) {
			return c
		}
	}
	best, bestD := "", 3
	if len(name) < 4 {
		bestD = 2
	}
	for _, c := range candidates {
		if d := editdistance.Levenshtein(strings.ToLower(name), strings.ToLower(c), bestD); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
