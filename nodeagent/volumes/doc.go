// Package volumes sets up the volumes of a node's pods on the host and
// turns containers' volumeMounts into runtime mounts.
//
// Volumes live in RootDir/pods/<uid>/volumes: emptyDir (medium Memory: a
// tmpfs), hostPath (with its type check or creation), configMap and secret
// (files written with items, paths and modes; secrets on a tmpfs when
// running as root). configMap and secret volumes are always mounted
// read-only. A missing object or key, or an unsupported volume type or
// field, is a *podenv.ConfigError. RemovePodDir unmounts and removes a
// pod's directory, never one another node wrote.
//
//	m := volumes.New(volumes.Config{RootDir: "/var/lib/bosun/agent", NodeName: "n1"})
//	vols, err := m.Setup(ctx, pod, objs)
//	mounts, err := volumes.Mounts(&pod.Spec.Containers[0], vols, env.Get)
//	err = m.RemovePodDir(string(pod.UID)) // when the pod is gone
package volumes
