package nodeagent

import (
	corev1 "k8s.io/api/core/v1"
)

// LookupPod returns a copy of the pod namespace/name as the agent runs it:
// a pod of the API bound to this node, or a static pod (named
// <name>-<node>, like its mirror pod). ok is false when the agent runs no
// such pod (or has not listed its pods yet). The agent's API (package
// nodeagent/agentapi) uses it to find a pod's UID and containers for
// logs and exec.
func (a *Agent) LookupPod(namespace, name string) (pod *corev1.Pod, ok bool) {
	key := namespace + "/" + name
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.staticByKey(key); p != nil {
		return p.DeepCopy(), true
	}
	for _, p := range a.cache {
		if objKey(p) == key {
			return p.DeepCopy(), true
		}
	}
	return nil, false
}
