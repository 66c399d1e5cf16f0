package apiserver_test

import (
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"

	"github.com/bosun-dev/bosun/apiserver"
)

// TestKubectlServerSideApply: kubectl apply --server-side of what may be
// written through the API (a Lease here) creates and updates it with
// managed fields; another manager changing a field it does not own is a
// conflict unless forced; a kind Git manages is refused as any write.
func TestKubectlServerSideApply(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	seed(e)
	k := newKubectl(t, e)
	apply := func(manager, holder string, extra ...string) (string, error) {
		cmd := k.cmd(ctx(t), append([]string{"apply", "--server-side", "--field-manager", manager, "-f", "-"}, extra...)...)
		cmd.Stdin = strings.NewReader(`apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: lock
  namespace: default
  labels:
    team: ` + manager + `
spec:
  holderIdentity: ` + holder + `
`)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := apply("alice", "a"); err != nil || !strings.Contains(out, "lease.coordination.k8s.io/lock serverside-applied") {
		t.Fatalf("first apply: %v\n%s", err, out)
	}
	var l coordinationv1.Lease
	if err := e.st.Get(ctx(t), "default", "lock", &l); err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "a" || len(l.ManagedFields) != 1 || l.ManagedFields[0].Manager != "alice" ||
		l.ManagedFields[0].Operation != "Apply" {
		t.Fatalf("after the first apply: holder %v, managedFields %+v", l.Spec.HolderIdentity, l.ManagedFields)
	}
	// The same manager again, another value: its own field, no conflict.
	if out, err := apply("alice", "b"); err != nil {
		t.Fatalf("alice re-applies: %v\n%s", err, out)
	}
	// Another manager, another value for alice's field: a conflict.
	out, err := apply("bob", "c")
	if err == nil || !strings.Contains(out, "conflict") || !strings.Contains(out, `"alice"`) || !strings.Contains(out, ".spec.holderIdentity") {
		t.Fatalf("bob's conflicting apply: %v\n%s", err, out)
	}
	if out, err := apply("bob", "c", "--force-conflicts"); err != nil {
		t.Fatalf("bob forces: %v\n%s", err, out)
	}
	if err := e.st.Get(ctx(t), "default", "lock", &l); err != nil {
		t.Fatal(err)
	}
	if *l.Spec.HolderIdentity != "c" || l.Labels["team"] != "bob" {
		t.Errorf("after the forced apply: holder %s, labels %v", *l.Spec.HolderIdentity, l.Labels)
	}
	// An update by another program (kubectl label) takes the field it
	// changes: the next apply of it conflicts with that manager.
	if out, err := k.run(t, "label", "lease", "lock", "team=carol", "--overwrite"); err != nil {
		t.Fatalf("kubectl label: %v\n%s", err, out)
	}
	if out, err := apply("bob", "c"); err == nil || !strings.Contains(out, `conflict with "kubectl-label"`) || !strings.Contains(out, ".metadata.labels.team") {
		t.Errorf("bob's apply after kubectl label: %v\n%s", err, out)
	}

	// A kind Git manages: refused, nothing created.
	cmd := k.cmd(ctx(t), "apply", "--server-side", "-f", "-")
	cmd.Stdin = strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: default\ndata:\n  a: b\n")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Git") {
		t.Errorf("server-side apply of a new ConfigMap: %v\n%s", err, out)
	}
}
