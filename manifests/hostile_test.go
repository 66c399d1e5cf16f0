package manifests

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestHostileInputsAreBounded feeds large hostile files to Decode and checks
// that each is rejected with a problem, quickly.
func TestHostileInputsAreBounded(t *testing.T) {
	var keys strings.Builder
	keys.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n")
	for i := 0; keys.Len() < 3<<20; i++ {
		fmt.Fprintf(&keys, "  k%d: v\n  k%d: w\n", i, i)
	}
	tests := []struct {
		name string
		data string
		want string
	}{
		{"deep flow nesting", strings.Repeat("[", 1<<20), "invalid YAML"},
		{"deep block nesting", strings.Repeat("a:\n ", 20000), ""},
		{"many duplicate keys", keys.String(), "duplicate key"},
		{"huge number", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 1" + strings.Repeat("0", 10000) + "\n", "spec.replicas"},
		{"many empty documents", strings.Repeat("---\n", 500000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, ps := Decode("h.yaml", []byte(tt.data), Limits{})
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			if tt.want != "" && !strings.Contains(ps.String(), tt.want) {
				t.Errorf("problems do not mention %q:\n%.2000s", tt.want, ps.String())
			}
			for _, p := range ps {
				if p.File != "h.yaml" {
					t.Errorf("problem without file: %v", p)
				}
			}
		})
	}
}
