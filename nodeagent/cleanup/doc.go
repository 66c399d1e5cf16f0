// Package cleanup removes from a machine what a bosun node agent made on it,
// for `bosun agent --cleanup` and for tests that run an agent: every pod
// sandbox and container of the agent's runtime (stopped and removed through
// the runtime, so that CNI DEL runs and their network namespaces go), the
// CNI state left without a sandbox, every network namespace file still
// mounted under the data directory (pods that never started, teardowns
// that failed: unmounted and removed, so that the directory can be
// deleted), bosun's iptables chains and the jump rules into them, the
// host-gw routes to other nodes' pod CIDRs (those marked with
// routes.Protocol, and no other) and the masquerade chain (routes.Chain),
// and the pod bridge.
//
// The agent must not be running. Without Config.ContainerdSocket, Node
// starts the containerd that the agent supervises in <DataDir>/containerd
// for as long as it needs it; a data directory where no agent ever ran has
// no pods to remove. Every step runs even when an earlier one failed; their
// errors are joined.
//
//	err := cleanup.Node(ctx, cleanup.Config{DataDir: "/var/lib/bosun", Logger: logger})
package cleanup
