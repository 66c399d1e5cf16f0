package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Decode decodes one file (multi-document YAML, a JSON object, or a YAML or
// JSON `kind: List` with items) strictly: unknown or misspelled fields,
// duplicate keys and values of the wrong type are problems naming the field
// and its line. Empty documents are skipped. A document that cannot be
// decoded does not stop the documents after it. Decode applies defaults
// (SetDefaults) but does not validate; see Validate.
func Decode(file string, data []byte, limits Limits) ([]Object, Problems) {
	d := decoder{limits: limits.withDefaults()}
	d.docsLeft = d.limits.MaxDocuments
	d.file(file, data)
	sortProblems(d.problems)
	return d.objects, d.problems
}

// decoder decodes files, sharing the document budget among them.
type decoder struct {
	limits   Limits
	docsLeft int
	tooMany  bool
	objects  []Object
	// partial holds objects decoded with problems: they are validated (so
	// that all problems are reported at once) but never returned.
	partial  []Object
	problems Problems
	windows  []SyncWindowAt
}

func (d *decoder) add(p Problem) { d.problems = append(d.problems, p) }

// file decodes one file's bytes, as JSON when its name ends in .json.
func (d *decoder) file(file string, data []byte) {
	d.fileAs(file, data, strings.EqualFold(path.Ext(file), ".json"))
}

// fileAs decodes one file's bytes as JSON or as multi-document YAML.
func (d *decoder) fileAs(file string, data []byte, isJSON bool) {
	if int64(len(data)) > d.limits.MaxFileBytes {
		d.add(Problem{File: file, Message: fmt.Sprintf("file is %s, larger than the limit of %s", humanBytes(int64(len(data))), humanBytes(d.limits.MaxFileBytes))})
		return
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		d.add(Problem{File: file, Line: lineAt(data, i), Message: "file contains NUL bytes: it looks binary, not YAML or JSON"})
		return
	}
	if !utf8.Valid(data) {
		d.add(Problem{File: file, Line: lineAt(data, firstInvalidUTF8(data)), Message: "file is not valid UTF-8 text"})
		return
	}
	d.text(file, data, isJSON)
}

// text decodes a file's checked text (UTF-8, no NUL bytes) as JSON or as
// multi-document YAML.
func (d *decoder) text(file string, data []byte, isJSON bool) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if isJSON {
		// Tabs are whitespace in JSON but not in YAML indentation; valid JSON
		// has no raw tabs inside strings, so this changes no value.
		data = bytes.ReplaceAll(data, []byte{'\t'}, []byte{' '})
		d.chunk(file, data, 0)
		return
	}
	for _, c := range splitDocuments(data) {
		if d.tooMany {
			return
		}
		d.chunk(file, c.data, c.startLine-1)
	}
}

// docChunk is one "---"-separated part of a YAML file.
type docChunk struct {
	data      []byte
	startLine int
}

// splitDocuments splits a YAML stream at document separator lines, as
// kubectl does, so that a broken document does not hide the ones after it.
// Each chunk keeps its separator line, which YAML reads as a document start.
func splitDocuments(data []byte) []docChunk {
	var out []docChunk
	start, startLine, line := 0, 1, 1
	for i := 0; i < len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data)
		if end >= 0 {
			next = i + end + 1
		}
		l := bytes.TrimRight(data[i:next], "\r\n")
		if i > start && isSeparator(l) {
			out = append(out, docChunk{data[start:i], startLine})
			start, startLine = i, line
		}
		i = next
		line++
	}
	return append(out, docChunk{data[start:], startLine})
}

func isSeparator(l []byte) bool {
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	return len(l) == 3 || l[3] == ' ' || l[3] == '\t'
}

// blankChunk reports whether a chunk holds nothing but a bare separator,
// blank lines and comments.
func blankChunk(data []byte) bool {
	for first := true; len(data) > 0; first = false {
		l := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		l = bytes.TrimSpace(l)
		if first && bytes.HasPrefix(l, []byte("---")) {
			l = bytes.TrimSpace(l[3:])
		}
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// chunk parses one chunk (normally one document) and decodes its objects.
func (d *decoder) chunk(file string, data []byte, offset int) {
	if blankChunk(data) {
		return
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for !d.tooMany {
		var doc yaml.Node
		err := safeDecode(dec, &doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			line, msg := offset+1, err.Error()
			if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
				n, _ := strconv.Atoi(m[1])
				line, msg = offset+n, m[2]
			} else {
				msg = strings.TrimPrefix(msg, "yaml: ")
			}
			d.add(Problem{File: file, Line: line, Message: "invalid YAML: " + msg})
			return
		}
		d.document(file, &doc, offset)
	}
}

// safeDecode runs the YAML parser, turning a parser panic into an error.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failed: %v", r)
		}
	}()
	return dec.Decode(n)
}

// takeDocument accounts for one document against the limit.
func (d *decoder) takeDocument(file string, line int) bool {
	if d.docsLeft <= 0 {
		if !d.tooMany {
			d.tooMany = true
			d.add(Problem{File: file, Line: line, Message: fmt.Sprintf("more than %d documents in the tree; the rest is not read, and the checks across objects that need the whole tree are skipped", d.limits.MaxDocuments)})
		}
		return false
	}
	d.docsLeft--
	return true
}

// document decodes one YAML document: an object or a List of objects.
func (d *decoder) document(file string, doc *yaml.Node, offset int) {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return
		}
		root = root.Content[0]
	}
	root = deref(root)
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return
	}
	if !d.takeDocument(file, root.Line+offset) {
		return
	}
	if root.Kind != yaml.MappingNode {
		d.add(Problem{File: file, Line: root.Line + offset, Message: fmt.Sprintf("a manifest must be a mapping with apiVersion, kind and metadata, got %s", describe(root))})
		return
	}
	if kind, _ := scalarField(root, "kind"); kind == "List" {
		d.list(file, root, offset)
		return
	}
	d.object(file, root, offset)
}

// list decodes the items of a `kind: List` document.
func (d *decoder) list(file string, root *yaml.Node, offset int) {
	if apiVersion, _ := scalarField(root, "apiVersion"); apiVersion != "v1" {
		d.add(Problem{File: file, Line: root.Line + offset, Object: "List", Field: "apiVersion", Message: fmt.Sprintf("unsupported apiVersion %q for kind List: use \"v1\"", apiVersion)})
	}
	var items *yaml.Node
	for _, p := range mappingPairs(root) {
		switch p.key.Value {
		case "items":
			items = deref(p.val)
		case "apiVersion", "kind", "metadata":
		default:
			d.add(Problem{File: file, Line: p.key.Line + offset, Object: "List", Field: p.key.Value, Message: fmt.Sprintf("unknown field %q", p.key.Value)})
		}
	}
	if items == nil || (items.Kind == yaml.ScalarNode && items.ShortTag() == "!!null") {
		return
	}
	if items.Kind != yaml.SequenceNode {
		d.add(Problem{File: file, Line: items.Line + offset, Object: "List", Field: "items", Message: "must be a list, got " + describe(items)})
		return
	}
	for i, it := range items.Content {
		it = deref(it)
		if i > 0 && !d.takeDocument(file, it.Line+offset) {
			return
		}
		if it.Kind != yaml.MappingNode {
			d.add(Problem{File: file, Line: it.Line + offset, Object: "List", Field: fmt.Sprintf("items[%d]", i), Message: "a manifest must be a mapping with apiVersion, kind and metadata, got " + describe(it)})
			continue
		}
		if kind, _ := scalarField(it, "kind"); kind == "List" {
			d.add(Problem{File: file, Line: it.Line + offset, Object: "List", Field: fmt.Sprintf("items[%d]", i), Message: "a List may not contain another List"})
			continue
		}
		d.object(file, it, offset)
	}
}

// scalarField returns the value of a top-level scalar field of mapping n and
// whether the field is present (as any kind of node).
func scalarField(n *yaml.Node, name string) (string, bool) {
	for _, p := range mappingPairs(n) {
		if p.key.Value == name {
			v := deref(p.val)
			if v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" {
				return v.Value, true
			}
			return "", true
		}
	}
	return "", false
}

// metadataField returns metadata.<name> of mapping n as a string, if it is one.
func metadataField(n *yaml.Node, name string) string {
	for _, p := range mappingPairs(n) {
		if p.key.Value == "metadata" {
			v, _ := scalarField(p.val, name)
			return v
		}
	}
	return ""
}

// object decodes one object mapping.
func (d *decoder) object(file string, n *yaml.Node, offset int) {
	line := n.Line + offset
	apiVersion, _ := scalarField(n, "apiVersion")
	kind, _ := scalarField(n, "kind")
	name := metadataField(n, "name")
	ns := metadataField(n, "namespace")
	if ns == "" && isNamespaced(kind) {
		ns = "default"
	}
	if !isNamespaced(kind) || kind == SyncWindowGVK.Kind {
		ns = ""
	}
	label := objectLabel(ID{Kind: kind, Namespace: ns, Name: name})
	prob := func(field, msg string) {
		l := line
		if f := findPath(n, field); f != nil {
			l = f.Line + offset
		}
		d.add(Problem{File: file, Line: l, Object: label, Field: field, Message: msg})
	}
	if kind == "" {
		prob("kind", "required value: every manifest needs apiVersion and kind, e.g. apiVersion: apps/v1 and kind: Deployment")
		return
	}
	if kind == SyncWindowGVK.Kind {
		d.syncWindow(file, n, offset, apiVersion, label, prob)
		return
	}
	info, ok := lookupKind(kind)
	if !ok {
		for _, k := range supportedKinds {
			if strings.EqualFold(k.gvk.Kind, kind) {
				prob("kind", fmt.Sprintf("unsupported kind %q: kinds are case-sensitive; did you mean %q?", kind, k.gvk.Kind))
				return
			}
		}
		prob("kind", fmt.Sprintf("unsupported kind %q (apiVersion %q); supported kinds are %s", kind, apiVersion, supportedList()))
		return
	}
	want := info.gvk.GroupVersion().String()
	if apiVersion == "" {
		prob("apiVersion", fmt.Sprintf("required value: use apiVersion %q for kind %s", want, kind))
		return
	}
	if apiVersion != want {
		prob("apiVersion", fmt.Sprintf("unsupported apiVersion %q for kind %s: use %q%s", apiVersion, kind, want, apiVersionHint(apiVersion, kind)))
		return
	}
	obj := info.newObj()
	w := walker{offset: offset, budget: countNodes(n, 0) + maxAliasExpansion, secret: kind == "Secret"}
	w.walk(n, typeInfoFor(obj), nil, 0)
	var dropped []string
	for _, p := range w.problems {
		d.add(Problem{File: file, Line: p.line, Object: label, Field: p.field, Message: p.message})
		if p.dropped {
			dropped = append(dropped, p.field)
		}
	}
	if w.aborted {
		return
	}
	if err := json.Unmarshal(w.buf, obj); err != nil {
		if len(w.problems) == 0 {
			d.add(Problem{File: file, Line: line, Object: label, Message: fmt.Sprintf("cannot decode object: %v", err)})
		}
		return
	}
	SetDefaults(obj)
	o := Object{Obj: obj, File: file, Line: line, src: &source{root: n, offset: offset}, dropped: dropped}
	if len(w.problems) > 0 {
		d.partial = append(d.partial, o)
		return
	}
	d.objects = append(d.objects, o)
}

// syncWindow decodes and validates a SyncWindow document.
func (d *decoder) syncWindow(file string, n *yaml.Node, offset int, apiVersion, label string, prob func(field, msg string)) {
	if want := SyncWindowGVK.GroupVersion().String(); apiVersion != want {
		prob("apiVersion", fmt.Sprintf("unsupported apiVersion %q for kind SyncWindow: use %q", apiVersion, want))
		return
	}
	w := walker{offset: offset, budget: countNodes(n, 0) + maxAliasExpansion}
	w.walk(n, syncWindowType, nil, 0)
	for _, p := range w.problems {
		d.add(Problem{File: file, Line: p.line, Object: label, Field: p.field, Message: p.message})
	}
	if w.aborted || len(w.problems) > 0 {
		return
	}
	var sw SyncWindow
	if err := json.Unmarshal(w.buf, &sw); err != nil {
		prob("", fmt.Sprintf("cannot decode the sync window: %v", err))
		return
	}
	if sw.Name == "" {
		prob("metadata.name", "required value")
		return
	}
	if _, field, err := sw.parse(); err != nil {
		prob(field, err.Error())
		return
	}
	d.windows = append(d.windows, SyncWindowAt{Window: sw, File: file, Line: n.Line + offset})
}

// objectLabel renders an ID for Problem.Object, leaving out what is unknown.
func objectLabel(id ID) string {
	if id.Kind == "" {
		return ""
	}
	if id.Name == "" {
		return id.Kind
	}
	return id.String()
}

// lineAt returns the 1-based line of byte offset i.
func lineAt(data []byte, i int) int {
	if i > len(data) {
		i = len(data)
	}
	return bytes.Count(data[:i], []byte{'\n'}) + 1
}

func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// humanBytes renders a byte count for messages.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// apiVersionHint says how to rewrite an object of an older apiVersion bosun
// does not read ("" when there is nothing to add).
func apiVersionHint(apiVersion, kind string) string {
	if kind == "HorizontalPodAutoscaler" && strings.HasPrefix(apiVersion, "autoscaling/") {
		return " (autoscaling/v1's targetCPUUtilizationPercentage: N is, in autoscaling/v2, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: N}}}])"
	}
	return ""
}
