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

// TestRenderFlatKustomization renders the other layout people start from
// (argocd-example-apps' kustomize-guestbook shape, our own files): one
// directory with a kustomization, its resources beside it, at the root of
// the tree, and a plain file elsewhere synced with it.
func TestRenderFlatKustomization(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"guestbook/kustomization.yaml": "namePrefix: kustomize-\nresources:\n- ui-deployment.yaml\n- ui-svc.yaml\n",
		"guestbook/ui-deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: guestbook-ui\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: guestbook-ui}\n  template:\n    metadata:\n      labels: {app: guestbook-ui}\n    spec:\n      containers:\n      - name: ui\n        image: bosun.local/hello:v1\n",
		"guestbook/ui-svc.yaml":        "apiVersion: v1\nkind: Service\nmetadata:\n  name: guestbook-ui\nspec:\n  selector: {app: guestbook-ui}\n  ports:\n  - port: 80\n",
		"plain/cm.yaml":                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata: {a: b}\n",
	}
	writeConfig(t, dir, files) // writes files under dir
	out, err := runBosun(t, "render", "--sops-age-key-file", "", dir)
	if err != nil {
		t.Fatalf("render: %v\n%s", err, out)
	}
	for _, w := range []string{
		"name: kustomize-guestbook-ui\n", "kind: Service", "bosun.dev/source: guestbook/ui-deployment.yaml:1",
		"bosun.dev/rendered-by: guestbook/kustomization.yaml", "name: plain\n", "bosun.dev/source: plain/cm.yaml:1",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "name: guestbook-ui\n") {
		t.Errorf("a resource of the kustomization was also read as a plain file:\n%s", out)
	}
}
