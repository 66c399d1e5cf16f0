// Package statefulset runs StatefulSets as Kubernetes 1.3x's controller does:
// pods with stable names "<set>-<ordinal>" (from spec.ordinals.start), the
// labels statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index and
// controller-revision-hash, hostname = pod name and subdomain =
// spec.serviceName (so the headless Service's DNS answers each pod's name).
//
// Pod management: OrderedReady creates pods one at a time in ordinal order,
// each only once the ones before it are Running and Ready (and available for
// minReadySeconds), and removes them in reverse order; Parallel creates and
// removes them all at once. Updates: RollingUpdate replaces pods from the
// highest ordinal down to spec.updateStrategy.rollingUpdate.partition, one
// at a time, each after the previous one is Running and Ready; OnDelete
// creates replacements at the new revision only when a pod was deleted.
// ControllerRevisions named "<set>-<hash>" keep the pod templates of the
// history (spec.revisionHistoryLimit).
//
// Each pod's volumeClaimTemplates become PersistentVolumeClaims
// "<template>-<set>-<ordinal>", created before the pod and kept when the pod
// is replaced; spec.persistentVolumeClaimRetentionPolicy makes the set
// (whenDeleted: Delete) or the pod of a removed ordinal (whenScaled: Delete)
// their owner, so that garbage collection deletes them as Kubernetes does.
//
// Pods are admitted through Config.Admit before they are created, and deleted
// gracefully (api.GracefulPodDelete). Status: replicas, readyReplicas,
// currentReplicas, updatedReplicas, availableReplicas, currentRevision,
// updateRevision, observedGeneration, collisionCount.
//
// Usage, inside the control plane:
//
//	sts := statefulset.New(statefulset.Config{Writer: s, Informers: inf, Logger: log, Recorder: rec, Admit: admitter})
//	inf.Start(ctx) // after New: New registers handlers and indexes
//	return sts.Run(ctx) // blocks until ctx ends
package statefulset
