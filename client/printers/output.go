package printers

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/api/table"
)

// Formats Print accepts (kubectl's -o values).
const (
	FormatTable = ""
	FormatWide  = "wide"
	FormatYAML  = "yaml"
	FormatJSON  = "json"
	FormatName  = "name"
)

// Options says how Print prints.
type Options struct {
	// Format is one of the Format constants.
	Format string
	// Now is the time ages are computed against.
	Now time.Time
	// AllNamespaces adds a NAMESPACE column and words the empty message for
	// every namespace.
	AllNamespaces bool
	// Namespace is the namespace listed, for "No resources found in default namespace.".
	Namespace string
	// NoHeaders leaves out the header line of tables.
	NoHeaders bool
}

// Print prints objs, all of resource r, in opts.Format. An empty table
// prints kubectl's "No resources found in NS namespace." instead (to w;
// kubectl writes it to stderr, the caller may pass that). JSON and YAML
// print one object alone and several (or none) as a v1 List.
func Print(w io.Writer, r api.Resource, objs []api.Object, opts Options) error {
	switch opts.Format {
	case FormatTable, FormatWide:
		if len(objs) == 0 {
			_, err := fmt.Fprintln(w, NoResourcesMessage(r, opts.Namespace, opts.AllNamespaces))
			return err
		}
		t := table.For(r, objs, table.Options{Now: opts.Now, AllNamespaces: opts.AllNamespaces})
		return WriteTable(w, t, opts.Format == FormatWide, opts.NoHeaders)
	case FormatYAML:
		return PrintYAML(w, r, objs)
	case FormatJSON:
		return PrintJSON(w, r, objs)
	case FormatName:
		return PrintNames(w, r, objs)
	default:
		return fmt.Errorf("printers: unknown output format %q: use one of wide, yaml, json, name", opts.Format)
	}
}

// NoResourcesMessage is kubectl's message for an empty list.
func NoResourcesMessage(r api.Resource, namespace string, allNamespaces bool) string {
	if !r.Namespaced || allNamespaces || namespace == "" {
		return "No resources found"
	}
	return fmt.Sprintf("No resources found in %s namespace.", namespace)
}

// list is the v1 List kubectl prints several objects as.
type list struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Items      []api.Object `json:"items"`
	Metadata   struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
}

func document(r api.Resource, objs []api.Object) any {
	for _, o := range objs {
		o.GetObjectKind().SetGroupVersionKind(r.GVK())
	}
	if len(objs) == 1 {
		return objs[0]
	}
	l := list{APIVersion: "v1", Kind: "List", Items: objs}
	if l.Items == nil {
		l.Items = []api.Object{}
	}
	return l
}

// PrintJSON prints objs (with apiVersion and kind) as indented JSON.
func PrintJSON(w io.Writer, r api.Resource, objs []api.Object) error {
	b, err := json.MarshalIndent(document(r, objs), "", "    ")
	if err != nil {
		return fmt.Errorf("printers: encode %s as JSON: %w", r.Kind, err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// PrintYAML prints objs (with apiVersion and kind) as YAML.
func PrintYAML(w io.Writer, r api.Resource, objs []api.Object) error {
	b, err := yaml.Marshal(document(r, objs))
	if err != nil {
		return fmt.Errorf("printers: encode %s as YAML: %w", r.Kind, err)
	}
	_, err = w.Write(b)
	return err
}

// PrintNames prints "kind.group/name" per object, as kubectl -o name does.
func PrintNames(w io.Writer, r api.Resource, objs []api.Object) error {
	prefix := strings.ToLower(r.Kind)
	if r.Group != "" {
		prefix += "." + r.Group
	}
	for _, o := range objs {
		if _, err := fmt.Fprintf(w, "%s/%s\n", prefix, o.GetName()); err != nil {
			return err
		}
	}
	return nil
}
