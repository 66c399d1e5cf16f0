// Package manifests turns a tree of Kubernetes YAML and JSON files into
// typed, defaulted k8s.io/api objects, and reports everything wrong with
// them as Problems that name the file, line, object and field.
//
// Load walks a tree (any fs.FS: a directory, a Git commit), Decode handles
// one file, SetDefaults applies the API server's defaults and Validate checks
// objects one by one and as a set. Decoding is strict, like
// `kubectl --validate=strict`: unknown or misspelled fields, duplicate keys
// and values of the wrong type are errors. All problems of a tree are
// reported together; a broken document does not hide the ones after it.
// Warnings (a Service selector that matches no pod template, a namespace not
// defined in the tree, a symlink to a directory) never reject a tree.
//
// Beyond the API server's field rules, validation rejects what Kubernetes
// would only fail on later: a hostPort used twice in a pod for the same
// protocol and hostIP, image references that github.com/distribution/reference
// cannot parse, metadata.namespace on a cluster-scoped kind, and two
// Services of the set with the same clusterIP or nodePort. Options adds the
// cluster's view: ServiceCIDRs rejects clusterIPs outside them, and Live
// (the live Namespaces and Services, which sync passes and `bosun validate`
// does not) turns a namespace that exists nowhere into an error (a warning
// with Live.CreateNamespaces) and rejects clusterIPs and nodePorts of live
// Services the set does not define. When a limit stops reading a tree,
// the checks that need the whole tree are skipped. ValidateObject gives the
// per-object errors alone, without file or line, for validating API writes
// the way sync validates files.
//
// Supported kinds are v1 Pod, ReplicationController, Service, ConfigMap,
// Secret, Namespace, ServiceAccount, PersistentVolumeClaim,
// PersistentVolume, ResourceQuota and LimitRange, apps/v1 ReplicaSet,
// Deployment, DaemonSet and StatefulSet, batch/v1 Job and CronJob,
// autoscaling/v2 HorizontalPodAutoscaler and policy/v1 PodDisruptionBudget
// (see Supported); a `kind: List` of them is accepted too. Each gets the
// API server's defaults and validation; fields bosun's controllers and
// agents do not act on are warnings naming file, line and field. CronJob
// schedules are parsed as Kubernetes parses them (robfig/cron's standard
// parser; TZ= and CRON_TZ= refused in favour of spec.timeZone, which is
// checked against the time zone database embedded with time/tzdata). A
// Job's selector is generated when it is created, so one in Git needs
// manualSelector: true. Across the set, an HPA whose scaleTargetRef names
// an object the set does not define, or a StatefulSet whose serviceName
// names a missing Service, is a warning. A PodDisruptionBudget is validated as the API server does (at most
// one of minAvailable and maxUnavailable, each an integer >= 0 or a
// percentage up to 100%); one without a selector, or with neither field,
// is accepted as Kubernetes accepts it, with a warning that it protects
// nothing or allows no eviction.
//
// Repositories as teams write them: Options.Renderers render directories
// that are not plain manifests (a kustomization, a bosun-helm.yaml; see
// Renderer). Load offers every directory it walks, the sync path included,
// to each renderer; the first that claims it wins (a later one that would
// too is a warning naming both files), and a claimed directory is neither
// read nor walked. Rendered objects are decoded, defaulted and validated
// like files, count against the same limits, and are checked together
// with the plain ones (duplicates name both places); a problem about one
// is placed at the file and line it comes from and ends with
// "(rendered by overlays/prod/kustomization.yaml)". Options.Decrypter
// decrypts files encrypted with SOPS before they are decoded, keeping
// their lines; without a key, offline, such a file is a warning and the
// checks that need the whole tree are skipped, and at sync it is an error.
// With no Decrypter a file carrying SOPS metadata is an error, never
// applied as ciphertext. A Secret with data that comes from no encrypted
// file is a warning (an error with Options.RequireEncryptedSecrets), and
// no problem about a Secret's data or stringData quotes a value.
//
// Hostile input is bounded: Limits caps the size of a file, of the whole
// tree and the number of documents; YAML alias expansion is capped (small
// anchors, aliases and merge keys work), nesting is limited to 100 levels,
// files with NUL bytes or invalid UTF-8 are rejected, and symlinks leaving
// the tree are not followed.
//
// Differences from kubectl worth knowing: numbers and booleans are not
// accepted where a string is expected (quote them, e.g. version: "1.0"),
// while the YAML 1.1 words yes/no/on/off are accepted for boolean fields;
// generateName is refused (objects in Git need a name).
//
// Example:
//
//	res, err := manifests.Load(os.DirFS("/srv/repo"), manifests.Options{Path: "deploy"})
//	if err != nil {
//		return fmt.Errorf("read repository: %w", err) // I/O failure, not bad input
//	}
//	for _, w := range res.Problems.Warnings() {
//		log.Info("manifest warning", "problem", w.String())
//	}
//	if err := res.Problems.Err(); err != nil {
//		return err // errors.Is(err, manifests.ErrInvalid); one problem per line
//	}
//	for _, o := range res.Objects {
//		fmt.Println(o.ID(), o.File, o.Line) // "Deployment default/web deploy/web.yaml 1"
//	}
package manifests
