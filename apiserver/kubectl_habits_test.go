package apiserver_test

import (
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/apiserver"
)

// TestKubectlHabits runs the kubectl commands the README's kubectl section
// lists, against a server with objects from Git (seed), and checks their
// output and exit status: what works, and what is refused and why.
func TestKubectlHabits(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	seed(e)
	k := newKubectl(t, e)
	tests := []struct {
		name string
		args []string
		ok   bool
		want []string // substrings of the output, in order
	}{
		{"api-resources", []string{"api-resources"}, true, []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND",
			"pods", "po", "v1", "true", "Pod", "deployments", "deploy", "apps/v1", "true", "Deployment"}},
		{"get all", []string{"get", "all"}, true, []string{"deployment.apps/web"}},
		{"taint", []string{"taint", "nodes", "node-1", "dedicated=db:NoSchedule"}, true, []string{"node/node-1 tainted"}},
		{"untaint", []string{"taint", "nodes", "node-1", "dedicated=db:NoSchedule-"}, true, []string{"node/node-1 untainted"}},
		{"set image of a Git object", []string{"set", "image", "deploy/web", "web=nginx:1.27"}, false, []string{"is managed by Git", "apps/web.yaml"}},
		{"rollout undo of a Git object", []string{"rollout", "undo", "deploy/web"}, false, []string{"web"}},
		{"server-side apply of a Git kind", []string{"apply", "--server-side", "-f", "-"}, false, []string{"Forbidden", "Git"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := k.cmd(ctx(t), tc.args...)
			cmd.Stdin = strings.NewReader(`apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: default
data:
  a: b
`)
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.ok {
				t.Fatalf("kubectl %s: error %v, want success %v\n%s", strings.Join(tc.args, " "), err, tc.ok, out)
			}
			if !inOrder(tc.want).Match(out) {
				t.Fatalf("kubectl %s: %q not all there, in order, in:\n%s", strings.Join(tc.args, " "), tc.want, out)
			}
		})
	}
}
