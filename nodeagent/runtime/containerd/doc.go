// Package containerd is the node agent's real runtime.Runtime: pod sandboxes
// and containers on containerd (the v2 Go client; tested against
// containerd 1.6), shaped like containerd's own CRI plugin but simpler. It
// passes the same conformance suite as the fake (runtimetest.RunConformance).
//
// # Sandboxes
//
// A sandbox is no container: it is the pod's network namespace, made and
// attached by Config.Network (nodeagent/network: CNI bridge, host-local
// IPAM), plus a record, Dir/sandboxes/<id>/sandbox.json, written atomically,
// next to the hostname, hosts and resolv.conf files its containers mount.
// Ids are random 32-hex-digit strings. StopPodSandbox kills the containers
// and tears the network down (IP released, namespace removed); the record
// stays, NotReady, until RemovePodSandbox. SandboxConfig.PodCIDR is
// ignored: the network was configured with the node's pod CIDR. A Network
// is required (there is no sandbox without an IP).
//
// # Containers
//
// A container is a containerd container in namespace Config.Namespace
// ("bosun") with an overlayfs snapshot of its image and an OCI spec built
// from the image config and the ContainerConfig: Kubernetes' entrypoint
// semantics (Command replaces ENTRYPOINT and CMD, Args replaces CMD), the
// image's environment plus HOSTNAME plus Env, WorkingDir, the sandbox's
// hostname and network namespace, bind mounts, a CFS quota (period 100 ms)
// for Resources.CPUMillis and a memory limit for Resources.MemoryBytes. No
// negative oom_score_adj is asked for (runc cannot set one without
// CAP_SYS_RESOURCE). Everything List returns travels as containerd labels
// (the runtime.Label* keys, LabelSandboxID, the config's Labels and
// Annotations under prefixes, start and exit records), so a new Runtime on
// the same containerd and Dir — an agent restart — finds every sandbox and
// container with the same ids, and running tasks keep their PIDs: New
// re-attaches their output to the log files.
//
// State comes from containerd's tasks: no task is Created, a running task
// Running, a stopped one Exited with its exit status and time. The first
// time an exit is seen (StopContainer, ListContainers) it is recorded as
// labels with its reason: "Completed" for 0, "OOMKilled" when the
// container's memory cgroup counted an OOM kill (best effort: read from
// memory.oom_control or memory.events at /<namespace>/<id> before the task
// is deleted), "Error" otherwise. The task (and its shim) lives until
// RemoveContainer. StopContainer sends SIGTERM, waits up to its timeout,
// then SIGKILL; a created container that never ran becomes Exited
// ("Completed") without running, as in the fake.
//
// ListContainerStats reads the running tasks' cgroup metrics through
// containerd's Metrics call (cgroup v1 or v2, whichever the daemon
// reports): CPU time, memory usage, and the working set as kubelet and
// cadvisor compute it, usage less inactive file pages (total_inactive_file
// on v1, inactive_file on v2).
//
// # Logs
//
// A task's stdout and stderr are FIFOs under Dir/fifo, copied by the
// Runtime into LogPath(Dir, podUID, name, attempt) =
// Dir/pods/<pod uid>/<name>/<attempt>.log in CRI's format, one line per
// output line:
//
//	2026-11-22T00:00:00.000000000Z stdout F hello
//
// (lines over 16 KiB are split into "P" pieces). A file over
// Config.MaxLogBytes is rotated to <attempt>.log.1. While no Runtime copies
// (the agent is down) output waits in the pipe, and the container blocks
// once it is full. The pod's log directory goes with its last sandbox.
//
// # Exec
//
// Exec (the Execer interface) runs a command in a running container, with
// the container's user, environment and namespaces, for `bosun exec` and
// `kubectl exec`; ExecTTY gives it a terminal that follows the client's
// window size. DialSandbox connects to 127.0.0.1:PORT inside a sandbox's
// network namespace (from a locked OS thread that enters it and dies with
// its goroutine), for `kubectl port-forward`.
//
// # Usage
//
//	c, err := containerdproc.Connect(ctx, sup.Address()) // nodeagent/containerdproc
//	nw, err := network.New(network.Config{Dir: dataDir + "/net", PodCIDR: podCIDR})
//	rt, err := ctrdruntime.New(ctx, ctrdruntime.Config{Client: c, Network: nw, Dir: dataDir + "/runtime", Logger: logger})
//	defer rt.Close()
//	sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{Name: "web", Namespace: "prod", UID: uid}})
//	_, err = rt.PullImage(ctx, "bosun.local/hello:v1")
//	id, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Metadata: runtime.ContainerMetadata{Name: "app"}, Image: "bosun.local/hello:v1"})
//	err = rt.StartContainer(ctx, id)
//	code, err := rt.Exec(ctx, id, []string{"/app", "version"}, nil, os.Stdout, os.Stderr, false)
package containerd
