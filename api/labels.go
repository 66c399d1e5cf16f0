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
)
