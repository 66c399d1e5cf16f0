// Package hollow runs many node agents in one process, as Kubernetes'
// kubemark does: each hollow node is a real nodeagent.Agent on its own
// in-memory fake runtime (runtimetest.Fake), registering a Node, renewing
// its Lease and reporting its pods Running and Ready after a configurable
// start delay, through the same API a real agent uses.
//
// Like a real agent, a hollow node takes its pod CIDR from its Node (the
// control plane assigns it after registration) and reports NetworkUnavailable
// and Ready=False until it has it; its fake runtime hands out pod IPs only
// from that CIDR (there is no fallback range), so no two pods in the cluster
// share an address.
//
// To stay light at 1,000 nodes, the agents share one list and watch of all
// bound pods (SharedPods), fanned out by spec.nodeName, and spread their
// heartbeats evenly over the heartbeat interval.
//
// Hollow nodes serve no agent API (their addresses are made up, and their
// Nodes publish no kubelet port), so there are no logs, exec or stats for
// their pods: metrics.k8s.io leaves them out, as metrics-server leaves out
// a kubelet it cannot reach, and `kubectl top node` lists them as
// <unknown>. Their fake runtimes do report usage (runtimetest.DefaultUsage
// per container), which is what the API server's kubectl top tests serve
// through a real agent API on the fake.
//
// Usage (`bosun hollow --nodes N --server URL`):
//
//	c, err := client.New(serverURL, client.WithHTTPClient(hollow.HTTPClient()))
//	if err != nil {
//		return err
//	}
//	return hollow.Run(ctx, hollow.Config{Nodes: 1000, Client: c, StartDelay: 100 * time.Millisecond, Logger: log})
package hollow
