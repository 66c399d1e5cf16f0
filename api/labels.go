package api

// Labels and annotations sync puts on every object it writes. Controllers read
// them (never copy them onto what they create, lest sync prune it); the API
// server and the client show them.
const (
	// LabelManagedBy marks objects that bosun's sync wrote from Git; only
	// objects carrying it with value ManagedByValue are ever pruned.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on synced objects.
	ManagedByValue = "bosun"
	// AnnotationCommit holds the SHA of the commit an object was synced from.
	AnnotationCommit = "bosun.dev/commit"
	// AnnotationSource holds "path/to/file.yaml:LINE", where the object is
	// defined in the repository.
	AnnotationSource = "bosun.dev/source"
	// AnnotationRenderedBy holds the repository path of the file that
	// rendered an object synced from Kustomize or Helm
	// ("overlays/prod/kustomization.yaml"); absent for plain manifests.
	AnnotationRenderedBy = "bosun.dev/rendered-by"
)
