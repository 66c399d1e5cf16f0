// Package volumes sets up the volumes of a node's pods on the host and
// turns containers' volumeMounts into runtime mounts.
//
// Volumes live in RootDir/pods/<uid>/volumes: emptyDir (medium Memory: a
// tmpfs), hostPath (with its type check or creation), configMap, secret,
// downwardAPI and projected (configMap, secret and downwardAPI sources;
// serviceAccountToken and clusterTrustBundle are refused). The last four
// are written as kubelet's atomic writer does (files in a hidden
// directory, "..data" linking to it, each top-level name linking into
// "..data"; an update swaps "..data" in one rename), are mounted
// read-only, and secret, downwardAPI and projected ones sit on a tmpfs
// when running as root. Refresh rewrites them from the current objects
// and pod labels and annotations, for running pods.
//
// A persistentVolumeClaim volume is the directory of the PersistentVolume
// bound to the claim (spec.local.path or spec.hostPath.path), read through
// Config.Claims; bosun-provisioned volumes' directories are created (0777)
// under LocalVolumeDir. An unbound claim is an error wrapping ErrNotReady:
// the pod waits in ContainerCreating.
//
// A missing object or key, or an unsupported volume type or field, is a
// *podenv.ConfigError. RemovePodDir unmounts and removes a pod's
// directory, never one another node wrote.
//
//	claims, err := volumes.APIClaims(apiClient)
//	m := volumes.New(volumes.Config{RootDir: "/var/lib/bosun/agent", NodeName: "n1", Claims: claims, Allocatable: alloc})
//	vols, err := m.Setup(ctx, pod, objs)
//	mounts, err := volumes.Mounts(&pod.Spec.Containers[0], vols, env.Get)
//	err = m.Refresh(ctx, pod, objs)   // on every sync of a running pod
//	err = m.RemovePodDir(string(pod.UID)) // when the pod is gone
package volumes
