// Package volumebinding binds PersistentVolumeClaims to PersistentVolumes and
// provisions node-local volumes, as kube-controller-manager's PV controller
// does with a WaitForFirstConsumer storage class.
//
// A claim whose storageClassName is unset, "local-path" or "standard" is
// provisioned by bosun's node-local provisioner once the scheduler has placed
// the first pod using it and written the claim's annotation
// volume.kubernetes.io/selected-node: the controller then creates the
// PersistentVolume "pvc-<claim uid>" with a local path under the node's
// bosun.dev/local-volume-dir annotation, node affinity to that node and a
// claimRef to the claim, and binds both (claim spec.volumeName, phase Bound on
// both). A claim of any other class (or "") stays Pending with a Warning Event
// ProvisioningFailed. A PV written with a claimRef (pre-bound) and a claim
// written with spec.volumeName bind to each other as Kubernetes binds them.
//
// When the claim of a bound PV is gone, the PV is Released; with the reclaim
// policy Delete the controller deletes the PV object of a volume bosun
// provisioned (the node agent removes the directory), with Retain it stays
// Released until someone deletes it.
//
// Usage, inside the control plane:
//
//	vb := volumebinding.New(volumebinding.Config{Writer: s, Getter: s, Informers: inf, Logger: log, Recorder: rec})
//	inf.Start(ctx) // after New: New registers handlers and indexes
//	return vb.Run(ctx) // blocks until ctx ends
package volumebinding
