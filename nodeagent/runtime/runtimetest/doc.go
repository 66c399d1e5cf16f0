// Package runtimetest holds Fake, an in-memory runtime.Runtime for tests and
// hollow nodes, and RunConformance, the contract suite every Runtime passes
// (the Fake here, the containerd runtime in its own package).
//
// The Fake runs no processes: containers are records that "run" until
// stopped, or exit by themselves as their image's Behavior or their
// environment (EnvExitAfter, EnvExitCode, EnvIgnoreTerm) says. Exits are
// computed from Config.Clock whenever state is read, so a fake clock decides
// exactly when a container dies. Pod IPs come from the sandbox's pod CIDR
// (the node's, which the agent passes), else Config.PodCIDR; there is no
// fallback range: without a CIDR RunPodSandbox fails with
// network.ErrNoPodCIDR, as the real network does.
//
// A running fake container uses CPU and memory as its image's
// Behavior.Usage says (DefaultUsage, a thousandth of a core and 4 MiB, when
// it says nothing), or as SetUsage last set: ListContainerStats reports its
// memory as given and its CPU time growing at that rate on Config.Clock,
// so a stats test with a fake clock gets exact rates.
//
// Usage:
//
//	rt := runtimetest.New(runtimetest.Config{Clock: fakeClock, StartDelay: 10 * time.Millisecond})
//	agent, err := nodeagent.New(nodeagent.Config{NodeName: "n1", Client: c, Runtime: rt})
//
//	// in the runtime's own tests:
//	func TestConformance(t *testing.T) {
//		runtimetest.RunConformance(t, func(t *testing.T) runtime.Runtime {
//			return runtimetest.New(runtimetest.FakeConformanceConfig())
//		}, runtimetest.FakeWorkloads())
//	}
package runtimetest
