// Package versionskew is bosun's version skew policy between a server and
// the node agents that register with it, as Kubernetes' between
// kube-apiserver and kubelet: an agent may be at most one minor version
// behind the server, never newer, and of the same major version. During a
// rolling upgrade the servers are upgraded first, then the agents.
//
// Versions are release versions ("v0.23.1", "0.23.1-rc.1"); an agent
// reports its version in its Node's status.nodeInfo.kubeletVersion as
// "bosun/VERSION". A development build ("dev", "dev+COMMIT") has no place
// in the policy: Check lets it through.
//
//	if err := versionskew.Check("v0.24.0", node.Status.NodeInfo.KubeletVersion); err != nil {
//		// refuse the Node: err says which versions and what to do
//	}
package versionskew

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// KubeletPrefix is what an agent's status.nodeInfo.kubeletVersion starts
// with, before its version.
const KubeletPrefix = "bosun/"

// MaxMinorBehind is how many minor versions an agent may be behind its
// server.
const MaxMinorBehind = 1

// ErrSkew is the error Check wraps when an agent is outside the policy.
var ErrSkew = errors.New("outside the version skew policy (agents at most one minor version behind the server, never newer)")

// Check returns nil when an agent of version agent (with or without
// KubeletPrefix) may register with a server of version server, and an
// error wrapping ErrSkew naming both versions and what to upgrade when it
// may not. Either version not being a release version (a development
// build) passes.
func Check(server, agent string) error {
	agent = strings.TrimPrefix(agent, KubeletPrefix)
	sv, err := version.ParseSemantic(server)
	if err != nil {
		return nil
	}
	av, err := version.ParseSemantic(agent)
	if err != nil {
		return nil
	}
	switch {
	case av.Major() != sv.Major():
		return fmt.Errorf("agent %s, server %s: %w: a different major version; install the server's release on the agent", agent, server, ErrSkew)
	case av.Minor() > sv.Minor():
		return fmt.Errorf("agent %s, server %s: %w: the agent is newer; upgrade the servers first", agent, server, ErrSkew)
	case sv.Minor()-av.Minor() > MaxMinorBehind:
		return fmt.Errorf("agent %s, server %s: %w: the agent is %d minor versions behind; upgrade the agent to v%d.%d or later",
			agent, server, ErrSkew, sv.Minor()-av.Minor(), sv.Major(), sv.Minor()-MaxMinorBehind)
	}
	return nil
}
