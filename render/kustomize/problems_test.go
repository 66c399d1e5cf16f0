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
		noObjects   bool     // nothing at all may render
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
			name:  "file outside the kustomization's directory (kustomize's rootOnly load restriction)",
			files: map[string]string{"app/kustomization.yaml": "resources:\n  - ../base/web.yaml\n"},
			want:  []string{"app/kustomization.yaml:2: resources: kustomize: accumulating resources: accumulation err='accumulating resources from '../base/web.yaml': security; file 'base/web.yaml' is not in or below 'app'': must build at directory: 'base/web.yaml': file is not directory"},
		},
		{
			name:  "git@ base refused",
			files: map[string]string{"app/kustomization.yaml": "resources:\n  - git@github.com:example/shop.git/deploy?ref=v1\n"},
			want:  []string{`app/kustomization.yaml:2: resources: remote resources "git@github.com:example/shop.git/deploy?ref=v1" refused: remote bases make a commit render differently over time; vendor it into the repository (or start the server with --allow-remote-bases)`},
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
			name: "decrypted file kustomize cannot use: no content in the problem",
			files: map[string]string{
				"app/kustomization.yaml": "resources:\n  - ../base\n  - secret.yaml\n",
				"app/secret.yaml":        "#ENC\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: hunter2\n  - broken\n",
			},
			want: []string{"app/kustomization.yaml:3: resources: kustomize: app/secret.yaml (decrypted) could not be used; its content is not shown"},
		},
		{
			name: "a component is not rendered on its own",
			files: map[string]string{
				"app/kustomization.yaml":  "resources:\n  - ../nope\n",
				"base/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - web.yaml\n",
			},
			noObjects: true,
			want:      []string{`app/kustomization.yaml:2: resources: resources "../nope": nope does not exist in the repository`},
		},
		{
			name:  "openapi refused (kustomize keeps it process-wide)",
			files: map[string]string{"app/kustomization.yaml": "resources:\n  - ../base\nopenapi:\n  path: schema.json\n"},
			want:  []string{"app/kustomization.yaml:3: openapi: openapi is not supported: kustomize keeps a custom schema for the whole process, so it would change how other kustomizations render"},
		},
		{
			name: "generator file missing",
			files: map[string]string{"app/kustomization.yaml": `resources:
  - ../base
configMapGenerator:
  - name: first
    literals: [a=b]
  - name: app-config
    files:
      - settings.ini
`},
			want: []string{"app/kustomization.yaml:6: configMapGenerator: kustomize: ..."},
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
			if tc.noObjects && len(objs) > 0 {
				t.Errorf("rendered %d objects, want none", len(objs))
			}
			for _, o := range objs {
				if strings.HasPrefix(o.RenderedBy, "app/") {
					t.Errorf("got an object from the broken overlay: %s", o.Data)
				}
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

func TestTreeFSStaysInTheTree(t *testing.T) {
	tfs := newTreeFS(base, nil, "base", false)
	if _, err := tfs.ReadFile(abs("base/web.yaml")); err != nil {
		t.Fatalf("reading a file of the tree: %v", err)
	}
	for _, p := range []string{"/etc/hostname", treeRoot + "/../etc/hostname", "/tmp/kustomize-123/x.yaml"} {
		if _, err := tfs.ReadFile(p); err == nil {
			t.Errorf("ReadFile(%s) read outside the tree", p)
		}
		if tfs.Exists(p) {
			t.Errorf("Exists(%s) is true outside the tree", p)
		}
	}
	if err := tfs.WriteFile(abs("base/new.yaml"), []byte("x")); err == nil {
		t.Error("WriteFile succeeded on a read-only tree")
	}
	if err := tfs.RemoveAll(abs("base")); err == nil {
		t.Error("RemoveAll succeeded on a read-only tree")
	}
	root, err := tfs.ReadFile(abs("base/kustomization.yaml"))
	if err != nil || !strings.Contains(string(root), "originAnnotations") {
		t.Errorf("the root kustomization is read without originAnnotations: %q, %v", root, err)
	}
}
