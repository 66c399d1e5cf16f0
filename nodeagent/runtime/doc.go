// Package runtime is the node agent's view of a container runtime: pod
// sandboxes, containers and images, shaped like Kubernetes' CRI so that
// containerd fits behind it, plus the domain types they exchange.
//
// # Who owns what
//
// A Runtime owns every sandbox and container it creates until they are
// removed; the agent owns the decisions (what to create, start, stop and
// remove, and when). A sandbox is a pod's network namespace (and, for a real
// runtime, its IP from CNI); containers are created inside one sandbox and
// join its network. Nothing is restarted by the runtime itself: a container
// that exits stays Exited, with its exit code, until the agent removes it.
//
// The agent persists nothing of its own. Everything it needs to adopt
// sandboxes and containers after a restart travels with them: the
// SandboxMetadata and ContainerMetadata given at creation (pod UID, name,
// namespace, container name, attempt) and the Labels and Annotations maps,
// which a Runtime must return unchanged from the List calls. A real runtime
// stores them as labels on its objects (the Label* keys are the ones to use).
//
// # Blocking and errors
//
// Every method blocks until the runtime has done what was asked (or failed)
// and honours ctx. StopContainer waits up to its timeout for the container to
// exit after SIGTERM, then kills it. Errors wrap the sentinels below, tested
// with errors.Is: ErrNotFound for an unknown id (Start, Create in an unknown
// sandbox, ImageStatus of an absent image), ErrAlreadyExists for a second
// container with the same name and attempt in a sandbox, ErrInvalidState for
// an operation the object's state forbids (starting a running container,
// creating a container in a stopped sandbox), ErrImagePull for an image that
// cannot be pulled. Stop and Remove calls are idempotent: an unknown or
// already stopped object is not an error.
//
// # Usage
//
//	sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{
//		Metadata: runtime.SandboxMetadata{Name: "web-0", Namespace: "prod", UID: "a1b2"},
//		Hostname: "web-0",
//	})
//	ref, err := rt.PullImage(ctx, "bosun.local/hello:v1")
//	id, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{
//		Metadata: runtime.ContainerMetadata{Name: "app", Attempt: 0},
//		Image:    "bosun.local/hello:v1",
//	})
//	err = rt.StartContainer(ctx, id)
//	cs, err := rt.ListContainers(ctx, runtime.ContainerFilter{PodUID: "a1b2"})
//	st, err := rt.ListContainerStats(ctx, runtime.ContainerFilter{ID: id}) // CPU time, memory
//	err = rt.StopContainer(ctx, id, 30*time.Second)
//	err = rt.RemovePodSandbox(ctx, sb.ID) // also removes its containers
//
// Package runtimetest holds an in-memory fake and the conformance suite
// every Runtime passes.
package runtime
