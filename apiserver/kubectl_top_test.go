package apiserver_test

import (
	"sort"
	"strings"
	"testing"
)

// TestKubectlTop runs the real kubectl top against topEnv: nodes with
// percentages of their allocatable (the node whose agent does not answer
// shown as unknown), pods of a namespace, per container, by label.
func TestKubectlTop(t *testing.T) {
	e := topEnv(t)
	k := newKubectl(t, e)
	tests := []struct {
		name string
		args []string
		want []string // lines, columns separated by single spaces
	}{
		{"nodes", []string{"top", "node"}, []string{
			"NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)",
			"n1 1500m 37% 3072Mi 18%",
			"n2 <unknown> <unknown> <unknown> <unknown>",
			"n3 <unknown> <unknown> <unknown> <unknown>",
		}},
		{"nodes by label", []string{"top", "node", "-l", "zone=a", "--sort-by=memory"}, []string{
			"NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)",
			"n1 1500m 37% 3072Mi 18%",
			"n2 <unknown> <unknown> <unknown> <unknown>",
		}},
		{"one node", []string{"top", "node", "n1"}, []string{
			"NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)",
			"n1 1500m 37% 3072Mi 18%",
		}},
		{"pods", []string{"top", "pod", "-n", "shop"}, []string{
			"NAME CPU(cores) MEMORY(bytes)",
			"db 1000m 1024Mi",
			"web 260m 72Mi",
		}},
		{"containers", []string{"top", "pod", "-n", "shop", "--containers"}, []string{
			"POD NAME CPU(cores) MEMORY(bytes)",
			"db db 1000m 1024Mi",
			"web app 250m 64Mi",
			"web sidecar 10m 8Mi",
		}},
		{"selector", []string{"top", "pod", "-n", "shop", "-l", "app=web"}, []string{
			"NAME CPU(cores) MEMORY(bytes)",
			"web 260m 72Mi",
		}},
		{"all namespaces", []string{"top", "pod", "-A", "--sort-by=memory"}, []string{
			"NAMESPACE NAME CPU(cores) MEMORY(bytes)",
			"shop db 1000m 1024Mi",
			"shop web 260m 72Mi",
			"default other 1m 4Mi",
		}},
	}
	// A pod on a node whose agent does not answer.
	out, err := k.run(t, "top", "pod", "lost", "-n", "shop")
	t.Logf("kubectl top pod lost -n shop: %v\n%s", err, out)
	if err == nil || !strings.Contains(out, "not found") {
		t.Errorf("kubectl top pod lost: %v\n%s; want it to fail with not found", err, out)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := k.run(t, tt.args...)
			t.Logf("kubectl %s:\n%s", strings.Join(tt.args, " "), out)
			if err != nil {
				t.Fatalf("kubectl %v: %v", tt.args, err)
			}
			var got, unknown []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				l = strings.Join(strings.Fields(l), " ")
				if strings.Contains(l, "<unknown>") {
					unknown = append(unknown, l) // kubectl's order of these varies
					continue
				}
				got = append(got, l)
			}
			sort.Strings(unknown)
			got = append(got, unknown...)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
