// Package kustomize renders directories holding a kustomization with
// kustomize's own library (sigs.k8s.io/kustomize/api, krusty), in process,
// from the tree it is given (a Git commit's tree, never the working copy),
// and edits the kustomizations and resource files that give a rendered
// object its image or replica count.
//
// Rendering runs krusty over a read-only filesystem built on the fs.FS:
// the tree appears under a fixed absolute root, nothing outside the tree
// can be read, writes fail, and files a manifests.Decrypter says are
// encrypted with SOPS are decrypted as kustomize reads them. Kustomize's
// default load restriction (rootOnly: files of a kustomization must be
// under its directory; bases may be anywhere in the tree) applies; exec
// and Go plugins are disabled (builtin transformers and generators work).
// helmCharts (which runs the helm binary) is refused: bosun renders charts
// from a bosun-helm.yaml. Remote resources and bases are refused unless
// Options.AllowRemote, in which case kustomize clones them itself with the
// git binary over the network into temporary directories.
//
// Provenance: the root kustomization is read with "originAnnotations" added
// to its buildMetadata (kustomize hands buildMetadata down to its bases),
// so every object carries kustomize's config.kubernetes.io/origin; the
// renderer turns it into Rendered.File and Line (the resource file and the
// line of the object's document, or for a configMapGenerator or
// secretGenerator object the kustomization and the line of its entry) and
// removes it and kustomize's other bookkeeping annotations from the object.
//
// Cost: kustomize renders a base again for every overlay that uses it, and
// keeps the history of every transformer in each object's annotations
// while origin annotations are on; both are kustomize's and stay.
// Independent roots render concurrently, at most GOMAXPROCS at a time, each
// with its own Kustomizer and filesystem (what kustomize keeps
// process-wide, its OpenAPI schema, is loaded first and only read after);
// the objects come out in the order of the roots all the same. Each object
// is written once from kustomize's YAML tree (the resource file's field
// order, comments dropped).
//
// Example:
//
//	r := kustomize.New(kustomize.Options{Decrypter: dec})
//	res, err := manifests.Load(fsys, manifests.Options{Renderers: []manifests.Renderer{r}})
package kustomize
