package syncer_test

import (
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/podsecurity"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// hostPathDeployment is a Deployment in namespace ns whose pods mount the
// machine's root: baseline refuses it.
func hostPathDeployment(ns string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: agent
  namespace: ` + ns + `
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        volumeMounts: [{name: root, mountPath: /host}]
      volumes:
      - name: root
        hostPath: {path: /}
`
}

// TestSyncPodSecurity: under the baseline default a commit with a
// hostPath pod template is rejected naming the file and the violation;
// the same commit applies once its Namespace opts in to privileged.
func TestSyncPodSecurity(t *testing.T) {
	s := storetest.Start(t)
	g := newGitRepo(t)
	policy, err := podsecurity.New(podsecurity.DefaultLevel)
	if err != nil {
		t.Fatal(err)
	}
	sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Repo: "test", Path: "deploy",
		PodSecurity: policy, Recorder: eventstest.Recorder(t, s, "bosun-sync")})

	ns := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ops\n"
	sha := g.commit("agent", map[string]string{"deploy/ns.yaml": ns, "deploy/agent.yaml": hostPathDeployment("ops")})
	att := mustSync(t, sy, sha, state.ResultRejected)
	errs := att.Problems
	if len(errs) != 1 || errs[0].File != "deploy/agent.yaml" || !strings.Contains(errs[0].Message, `violates PodSecurity "baseline:latest": hostPath volumes (volume "root")`) {
		t.Fatalf("problems = %v", errs)
	}

	privileged := ns + "  labels:\n    pod-security.kubernetes.io/enforce: privileged\n    pod-security.kubernetes.io/warn: privileged\n    pod-security.kubernetes.io/audit: privileged\n"
	sha = g.commit("ops may run privileged pods", map[string]string{"deploy/ns.yaml": privileged})
	mustSync(t, sy, sha, state.ResultApplied)
	st, err := records.ReadStatus(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.Synced == nil || st.Synced.Commit.SHA != sha {
		t.Fatalf("synced = %+v", st.Synced)
	}
}
