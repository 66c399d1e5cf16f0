// Package podsecurity applies Kubernetes' Pod Security Standards to pods and
// pod templates, as kube-apiserver's Pod Security Admission does, with the
// checks of k8s.io/pod-security-admission (never re-implemented here).
//
// A Namespace chooses its levels with the labels
// pod-security.kubernetes.io/enforce, /warn and /audit (values privileged,
// baseline or restricted), each with an optional -version label ("latest" or
// "v1.N"). A mode whose label is missing takes the server's default level
// (New's argument, `bosun server --pod-security-default`, baseline unless
// set) at version latest. Labels that cannot be parsed are handled as
// Kubernetes handles them: an invalid enforce level enforces restricted
// (fail closed), invalid warn and audit levels become privileged (fail
// open), an invalid version means latest, and the problem is reported in
// Result.LabelErrors; a Namespace written with such labels is refused
// (CheckNamespace).
//
// No namespace is exempt, kube-system included: Kubernetes' own default
// PodSecurityConfiguration exempts no namespace, user or runtime class.
//
// One difference from Kubernetes is deliberate. kube-apiserver enforces only
// on Pods and merely warns about controllers' templates, because their pods
// are admitted one by one later. bosun's controllers write pods into the
// store directly, past the API, so CheckObjects enforces on the templates of
// Deployments, ReplicaSets, ReplicationControllers, DaemonSets,
// StatefulSets, Jobs and CronJobs too: a commit whose
// template the namespace would refuse is refused whole, naming file and line.
//
// # Example
//
//	p, err := podsecurity.New("baseline")
//	if err != nil {
//		return err
//	}
//	r := p.Check(ns.Labels, &pod.ObjectMeta, &pod.Spec)
//	if r.Denied() {
//		return errors.New(r.DeniedMessage()) // violates PodSecurity "baseline:latest": ...
//	}
//	warnings := r.Warnings() // would violate PodSecurity "restricted:latest": ...
package podsecurity
