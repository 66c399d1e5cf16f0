// Package probe runs Kubernetes' liveness, readiness and startup probes
// (httpGet, tcpSocket and exec) of running containers, for the node agent.
//
// A Manager keeps one worker goroutine per container and probe kind. A
// worker waits initialDelaySeconds after the container started, then runs
// its probe every periodSeconds (default 10s) with a timeout of
// timeoutSeconds (default 1s); successThreshold (default 1) consecutive
// successes make the result pass, failureThreshold (default 3) consecutive
// failures make it fail. Liveness passes and readiness and startup fail
// until a probe says otherwise. While a startup probe has not passed,
// liveness and readiness probes do not run; once it passed it stops. A
// liveness or startup probe that failed stops probing: the agent restarts
// the container, whose new id starts new workers.
//
// httpGet probes reach the pod IP (or the probe's host) on a port given by
// number or by the name of one of the container's ports; HTTP and HTTPS
// (certificates not verified, as kubelet) are supported, with the probe's
// headers ("Host" sets the request's host); any status in 200-399 passes
// and redirects are not followed. tcpSocket probes pass when a connection
// opens. exec probes run through the runtime's Execer and pass on exit code
// 0. gRPC probes are not supported and always fail, saying so.
//
// Checker.RunHook runs a container's lifecycle hooks (postStart, preStop)
// with the same handlers: exec, httpGet, and sleep on a clock.
//
// Periods and initial delays run on Config.Clock (a fake clock in tests);
// the timeout of each run is real time.
//
// Usage:
//
//	m := probe.NewManager(probe.Config{Clock: clk, Execer: execer, OnChange: agent.Resync})
//	defer m.Stop()
//	st := m.Status(probe.Target{PodUID: uid, PodIP: ip, ContainerID: id, Container: &spec, StartedAt: started})
//	if st.Unhealthy { /* restart the container */ }
//	m.Retain(uid, runningIDs) // on every pod sync: stop workers of containers that ended
package probe
