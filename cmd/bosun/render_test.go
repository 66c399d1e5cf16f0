package main

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestRenderExample renders examples/kustomize (two overlays of one base,
// and a SOPS-encrypted Secret for the demo key) as the README shows it:
// Secret values redacted unless --show-secrets, a warning and empty values
// without the key, and validate agreeing.
func TestRenderExample(t *testing.T) {
	const dir = "../../examples/kustomize"
	const key = dir + "/demo-age.key"
	const password = "correct-horse-battery-staple"
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
	}{
		{name: "with the key", args: []string{"render", "--sops-age-key-file", key, dir},
			want: []string{
				"name: prod-hello", "namespace: hello-prod", "replicas: 3", "memory: 128Mi",
				"name: staging-hello", "bosun.dev/rendered-by: overlays/prod/kustomization.yaml",
				"bosun.dev/source: base/deployment.yaml:1", "name: prod-db", "password: <redacted>",
			},
			notWant: []string{password, base64.StdEncoding.EncodeToString([]byte(password)), "warning:", "sops:", "\n  name: hello\n"}},
		{name: "show secrets", args: []string{"render", "--sops-age-key-file", key, "--show-secrets", dir},
			want: []string{"password: " + base64.StdEncoding.EncodeToString([]byte(password))}},
		{name: "no key", args: []string{"render", "--sops-age-key-file", "", dir},
			want:    []string{"warning: overlays/prod/db-secret.enc.yaml: encrypted with SOPS and none of the keys given opens it", "name: prod-db"},
			notWant: []string{password}},
		{name: "one overlay", args: []string{"render", "--sops-age-key-file", key, "--path", "overlays/staging", dir},
			want: []string{"name: staging-hello"}, notWant: []string{"prod-"}},
		{name: "validate", args: []string{"validate", "--sops-age-key-file", key, dir},
			want: []string{"9 object(s) in 6 file(s) are valid"}, notWant: []string{"warning"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOPS_AGE_KEY_FILE", "")
			t.Setenv("HOME", t.TempDir()) // no ~/.config/sops/age/keys.txt
			out, err := runBosun(t, tc.args...)
			if err != nil {
				t.Fatalf("bosun %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output holds %q:\n%s", w, out)
				}
			}
		})
	}
}
