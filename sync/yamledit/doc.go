// Package yamledit changes single fields of Kubernetes objects in YAML files
// while keeping everything else byte for byte: comments, blank lines, key
// order, indentation, quoting, flow style, line endings and the other
// documents of a multi-document file.
//
// Each edit parses the file with go.yaml.in/yaml/v3 only to locate the target
// node (its line and column), then rewrites just that scalar's bytes in the
// original text, or inserts one line for a field that is missing. The result
// is parsed again and checked before it is returned, so an edit never hands
// back a file that says something else than asked.
//
// Objects are found by kind, namespace ("" and a missing metadata.namespace
// mean "default") and name, in any document of the file, including the items
// of a "kind: List" document. Scalars written as block scalars (| or >),
// multi-line plain scalars and aliases are refused rather than rewritten.
//
// Errors name the object and the field and wrap ErrNotFound (no such object,
// container or field) or ErrUnsupported (the YAML cannot be edited in place);
// callers add the file name.
//
// Example:
//
//	data, err := os.ReadFile("apps/web.yaml")
//	if err != nil { ... }
//	out, err := yamledit.SetReplicas(data, "Deployment", "shop", "web", 4)
//	if err != nil {
//		return fmt.Errorf("apps/web.yaml: %w", err)
//	}
//	out, err = yamledit.SetImage(out, "Deployment", "shop", "web", "app", "registry.local/web:v2")
//
// SetPath changes one scalar of a file that is not an object (a Helm values
// file, a kustomization) by its path of keys and "[N]" indexes.
package yamledit
