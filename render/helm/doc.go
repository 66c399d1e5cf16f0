// Package helm renders Helm charts for manifests.Load: a directory holding
// a bosun-helm.yaml names a chart (a directory or .tgz in the repository,
// or a chart in an HTTP(S) chart repository at an exact version), a
// release name, a namespace and values, and is rendered in-process with
// Helm's template engine as `helm template` would, from the commit's tree
// only. Dependencies vendored in the chart's charts/ directory are used;
// missing ones are fetched from their chart repository (digest checked,
// cached by name, version and digest) or refused with a message saying how
// to vendor them. bosun has no release records, hook phases or CRDs: test
// hooks are dropped and other hooks applied as ordinary objects, each with
// a warning; a chart's crds/ directory is an error.
//
// The Renderer also implements manifests.RenderedEditor: bosun scale and
// bosun set image on a rendered object edit the values leaf that feeds the
// field, found by rendering with a sentinel in place of each candidate leaf.
//
// Example:
//
//	r := helm.New(helm.Options{Decrypter: dec, CacheDir: "/var/lib/bosun/helm-cache"})
//	res, err := manifests.Load(fsys, manifests.Options{Renderers: []manifests.Renderer{r}})
package helm
