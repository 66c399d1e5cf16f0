// Package podenv computes a container's environment from its pod spec as
// kubelet does, and expands $(VAR) references.
//
// The environment is built from the envFrom sources in order (names that
// are not valid environment variable names are skipped and logged), then
// env in order with valueFrom configMapKeyRef, secretKeyRef, fieldRef and
// resourceFieldRef, each value expanded over the variables before it and
// the service variables; the service variables (Config.ServiceEnv) come
// last and only where not defined. A mistake only the pod's owner can fix
// (a missing object or key, an unsupported field) is a *ConfigError.
//
// The downward API's values are shared with the downwardAPI and projected
// volumes of package volumes: ResourceFieldValue (limits and requests of
// cpu, memory and ephemeral-storage with a divisor; an unset limit is the
// node's allocatable) and VolumeFieldValue (metadata fields, whole label
// and annotation maps formatted as kubelet writes them).
//
//	r := podenv.New(podenv.Config{NodeName: "n1", HostIP: "192.168.1.10", ServiceEnv: proxy.ServiceEnv})
//	env, err := r.Env(ctx, pod, &pod.Spec.Containers[0], podIP, objs)
//	if msg, ok := podenv.IsConfigError(err); ok { ... } // CreateContainerConfigError: msg
//	cmd := podenv.Expand(spec.Command[0], env.Get)
package podenv
