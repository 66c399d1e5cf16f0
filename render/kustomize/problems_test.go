package kustomize

import (
	"strings"
	"testing"
	"testing/fstest"
)

// base is a small base every error case builds on.
var base = fstest.MapFS{
	"base/kustomization.yaml": {Data: []byte("resources:\n  - web.yaml\n")},
	"base/web.yaml": {Data: []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: app
          image: registry.local/web:1
`)},
}

func with(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

func TestRenderProblems(t *testing.T) {
	tests := []struct {
		name        string
		files       map[string]string
		allowRemote bool
		want        []string // each problem's String(), in order
	}{
		{
			name: "missing resource file",
			files: map[string]string{"app/kustomization.yaml": `resources:
  - ../base
  - missing.yaml
`},
			want: []string{`app/kustomization.yaml:3: resources: resources "missing.yaml": app/missing.yaml does not exist in the repository`},
		},
		{
			name: "patch whose target matches nothing",
			files: map[string]string{"app/kustomization.yaml": `resources:
  - ../base
patches:
  - path: ok.yaml
  - path: nope.yaml
`,
				"app/ok.yaml":   "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n",
				"app/nope.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nope\nspec:\n  replicas: 2\n",
			},
			want: []string{"app/kustomization.yaml:5: patches: kustomize: ..."},
		},
		{
			name: "broken base seen through its overlay",
			files: map[string]string{
				"base/kustomization.yaml": "resources:\n  - web.yaml\npatches:\n  - path: gone.yaml\n",
				"app/kustomization.yaml":  "resources:\n  - ../base\n",
			},
			want: []string{"base/kustomization.yaml:4: patches: kustomize: ..."},
		},
		{
			name:  "remote base refused",
			files: map[string]string{"app/kustomization.yaml": "resources:\n  - ../base\n  - github.com/example/shop//deploy/base?ref=v1.2.0\n"},
			want:  []string{`app/kustomization.yaml:3: resources: remote resources "github.com/example/shop//deploy/base?ref=v1.2.0" refused: remote bases make a commit render differently over time; vendor it into the repository (or start the server with --allow-remote-bases)`},
		},
		{
			name:  "https resource refused",
			files: map[string]string{"app/kustomization.yaml": "resources:\n  - ../base\n  - https://example.com/app.yaml\n"},
			want:  []string{`app/kustomization.yaml:3: resources: remote resources "https://example.com/app.yaml" refused: remote bases make a commit render differently over time; vendor it into the repository (or start the server with --allow-remote-bases)`},
		},
		{
			name: "helmCharts refused",
			files: map[string]string{"app/kustomization.yaml": `resources:
  - ../base
helmCharts:
  - name: redis
    repo: https://charts.example.com
    version: 1.0.0
`},
			want: []string{"app/kustomization.yaml:4: helmCharts: helmCharts is not supported (kustomize would run the helm binary): render the chart with a bosun-helm.yaml in its own directory instead"},
		},
		{
			name: "encrypted file that does not decrypt",
			files: map[string]string{
				"app/kustomization.yaml": "resources:\n  - ../base\n  - secret.yaml\n",
				"app/secret.yaml":        "#ENC BADMAC\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: v\n",
			},
			want: []string{"app/secret.yaml: app/secret.yaml: MAC mismatch: the file was changed after it was encrypted"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := with(tc.files)
			r := New(Options{Decrypter: fakeDecrypter{}, AllowRemote: tc.allowRemote})
			objs, probs, err := r.Render(fsys, []string{"app", "base"})
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 0 {
				t.Errorf("got %d objects from a broken overlay, want none", len(objs))
			}
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
				if strings.Contains(p.Message, "goroutine") || strings.Contains(p.Message, ".go:") {
					t.Errorf("problem carries Go stack text: %s", p.Message)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for i := range got {
				w := tc.want[i]
				if prefix, ok := strings.CutSuffix(w, "..."); ok {
					if !strings.HasPrefix(got[i], prefix) {
						t.Errorf("problem %d = %s\nwant it to start with %s", i, got[i], prefix)
					}
					continue
				}
				if got[i] != w {
					t.Errorf("problem %d = %s\nwant %s", i, got[i], w)
				}
			}
		})
	}
}
