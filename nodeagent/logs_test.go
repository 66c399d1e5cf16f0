package nodeagent_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/nodeagent/agentapi"
	"github.com/bosun-dev/bosun/store/storetest"
)

// TestAgentAPIThroughServer runs an agent with its API on 127.0.0.1: the
// Node publishes the port, and exec reaches the agent's pods through the
// API server.
func TestAgentAPIThroughServer(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	e.createNode("n1")
	a, err := nodeagent.New(nodeagent.Config{
		NodeName: "n1", Client: e.c, Runtime: e.rt, Logger: storetest.Logger(t), Clock: e.clk,
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		RootDir:   t.TempDir(),
		APIPort:   port,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := agentapi.New(agentapi.Config{Pods: a, Runtime: e.rt, Logger: storetest.Logger(t), Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(runCtx) })
	wg.Go(func() { _ = srv.Serve(runCtx, ln) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	e.eventually("the node to publish its API port", 0, func() bool {
		obj, err := e.c.Get(ctx(t), nodesR, "", "n1")
		return err == nil && obj.(*corev1.Node).Status.DaemonEndpoints.KubeletEndpoint.Port == port
	})
	e.createPod("web", corev1.RestartPolicyAlways)
	e.eventually("the pod to run", 0, func() bool { return runningReady(e.pod("web")) })

	if p, ok := a.LookupPod("default", "web"); !ok || p.Name != "web" || p.UID == "" {
		t.Fatalf("LookupPod(default/web) = %v, %v", p, ok)
	}
	if _, ok := a.LookupPod("default", "nope"); ok {
		t.Fatal("LookupPod found a pod that does not exist")
	}
	var stderr bytes.Buffer
	code, err := e.c.Exec(ctx(t), "default", "web", "app", []string{"false"}, nil, nil, &stderr)
	if err != nil || code != 1 {
		t.Fatalf("exec false: %d, %v", code, err)
	}
	code, err = e.c.Exec(ctx(t), "default", "web", "side", []string{"nosuch"}, nil, nil, &stderr)
	if err != nil || code != 127 || stderr.String() != "exec: \"nosuch\": executable file not found in $PATH\n" {
		t.Fatalf("exec nosuch: %d, %v, %q", code, err, stderr.String())
	}
	// The fake runtime keeps no logs.
	if _, err := e.c.Logs(ctx(t), "default", "web", client.LogOptions{Container: "app"}); err == nil ||
		err.Error() != "this node's runtime keeps no container logs" {
		t.Fatalf("logs: %v", err)
	}
}
