package kustomize

import (
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/manifests"
)

// change is an expected edit: in file, old (a run of whole lines, or ""
// for "append at the end") becomes new.
type change struct {
	file, old, new string
}

func checkEdits(t *testing.T, fsys fs.FS, got []manifests.FileEdit, want []change) {
	t.Helper()
	if len(got) != len(want) {
		var paths []string
		for _, e := range got {
			paths = append(paths, e.Path)
		}
		t.Fatalf("edited %v, want %d files", paths, len(want))
	}
	for i, w := range want {
		if got[i].Path != w.file {
			t.Fatalf("edit %d is of %s, want %s", i, got[i].Path, w.file)
		}
		orig, err := fs.ReadFile(fsys, w.file)
		if err != nil {
			t.Fatal(err)
		}
		var exp string
		if w.old == "" {
			exp = string(orig) + w.new
		} else {
			if !strings.Contains(string(orig), w.old) {
				t.Fatalf("test bug: %s has no %q", w.file, w.old)
			}
			exp = strings.Replace(string(orig), w.old, w.new, 1)
		}
		if string(got[i].Data) != exp {
			t.Errorf("%s is now\n%s\nwant\n%s", w.file, got[i].Data, exp)
		}
	}
}

var greeter = func(ns, name string) manifests.ID {
	return manifests.ID{Group: "apps", Kind: "Deployment", Namespace: ns, Name: name}
}

func TestSetImages(t *testing.T) {
	tree := os.DirFS("testdata/tree")
	baseImages := with(map[string]string{
		"base/kustomization.yaml": "resources:\n  - web.yaml\nimages:\n  - name: registry.local/web\n    newTag: \"2\"\n",
		"app/kustomization.yaml":  "# the app overlay\nresources:\n  - ../base\nnamePrefix: app-\n",
	})
	refused := with(map[string]string{
		"app/kustomization.yaml": `resources:
  - ../base
  - pins.yaml
images:
  - name: registry.local/web
    newTag: "3"
replacements:
  - source:
      kind: ConfigMap
      name: pins
      fieldPath: data.image
    targets:
      - select:
          kind: Deployment
        fieldPaths:
          - spec.template.spec.containers.[name=app].image
`,
		"app/pins.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pins\ndata:\n  image: registry.local/web:pinned\n",
	})
	tests := []struct {
		name       string
		fsys       fs.FS
		renderedBy string
		id         manifests.ID
		images     map[string]string
		want       []change
		wantErr    string
	}{
		{
			name: "image the overlay overrides: its images: entry", fsys: tree,
			renderedBy: "overlays/staging/kustomization.yaml", id: greeter("staging", "staging-greeter"),
			images: map[string]string{"web": "registry.local/greeter:1.2"},
			want:   []change{{"overlays/staging/kustomization.yaml", `    newTag: "1.1-rc"`, `    newTag: "1.2"`}},
		},
		{
			name: "new repository and digest in the overlay's entry", fsys: tree,
			renderedBy: "overlays/production/kustomization.yaml", id: greeter("production", "prod-greeter-v1"),
			images: map[string]string{"web": "registry.prod/greeter2@sha256:" + strings.Repeat("a", 64)},
			want: []change{{"overlays/production/kustomization.yaml",
				"    newName: registry.prod/greeter\n    newTag: \"1.0.3\"\n",
				"    newName: registry.prod/greeter2\n    digest: sha256:" + strings.Repeat("a", 64) + "\n"}},
		},
		{
			name: "image nobody overrides: the base's resource file", fsys: tree,
			renderedBy: "overlays/staging/kustomization.yaml", id: greeter("staging", "staging-greeter"),
			images: map[string]string{"sidecar": "registry.local/logshipper:3.2"},
			want:   []change{{"base/deployment.yaml", "image: registry.local/logshipper:3.1", "image: registry.local/logshipper:3.2"}},
		},
		{
			name: "image only a base overrides: an entry added to the root", fsys: baseImages,
			renderedBy: "app/kustomization.yaml", id: greeter("", "app-web"),
			images: map[string]string{"app": "registry.local/web:4"},
			want:   []change{{"app/kustomization.yaml", "", "images:\n- name: registry.local/web\n  newTag: \"4\"\n"}},
		},
		{
			name: "a replacement sets the image after images: is refused", fsys: refused,
			renderedBy: "app/kustomization.yaml", id: greeter("", "web"),
			images:  map[string]string{"app": "registry.local/web:5"},
			wantErr: `container "app" of Deployment web renders with image "registry.local/web:pinned", not "registry.local/web:5"`,
		},
		{
			name: "unknown container", fsys: tree,
			renderedBy: "overlays/staging/kustomization.yaml", id: greeter("staging", "staging-greeter"),
			images:  map[string]string{"nope": "x:1"},
			wantErr: `has no container "nope"`,
		},
		{
			name: "object the root does not render", fsys: tree,
			renderedBy: "overlays/staging/kustomization.yaml", id: greeter("staging", "greeter"),
			images:  map[string]string{"web": "x:1"},
			wantErr: "does not render Deployment",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{Decrypter: fakeDecrypter{}})
			edits, err := r.SetImages(tc.fsys, tc.renderedBy, tc.id, tc.images)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
				}
				if edits != nil {
					t.Errorf("a refused edit returned %d file edits", len(edits))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkEdits(t, tc.fsys, edits, tc.want)
		})
	}
}

func TestSetReplicas(t *testing.T) {
	tree := os.DirFS("testdata/tree")
	baseReplicas := with(map[string]string{
		"base/kustomization.yaml": "resources:\n  - web.yaml\nreplicas:\n  - name: web\n    count: 2\n",
		"app/kustomization.yaml":  "resources:\n  - ../base\nreplicas: # none yet\n",
	})
	tests := []struct {
		name       string
		fsys       fs.FS
		renderedBy string
		id         manifests.ID
		replicas   int32
		want       []change
	}{
		{
			name: "root replicas: entry", fsys: tree,
			renderedBy: "overlays/production/kustomization.yaml", id: greeter("production", "prod-greeter-v1"), replicas: 7,
			want: []change{{"overlays/production/kustomization.yaml", "    count: 5\n", "    count: 7\n"}},
		},
		{
			name: "no entry, a plain resource: its file", fsys: tree,
			renderedBy: "base/kustomization.yaml", id: greeter("", "greeter"), replicas: 3,
			want: []change{{"base/deployment.yaml", "  replicas: 1\n", "  replicas: 3\n"}},
		},
		{
			name: "a patch sets replicas: an entry added to the root", fsys: tree,
			renderedBy: "overlays/staging/kustomization.yaml", id: greeter("staging", "staging-greeter"), replicas: 4,
			want: []change{{"overlays/staging/kustomization.yaml", "", "replicas:\n- name: greeter\n  count: 4\n"}},
		},
		{
			name: "entry in a base only: one added to the root's empty replicas:", fsys: baseReplicas,
			renderedBy: "app/kustomization.yaml", id: greeter("", "web"), replicas: 6,
			want: []change{{"app/kustomization.yaml", "replicas: # none yet\n", "replicas: # none yet\n- name: web\n  count: 6\n"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{Decrypter: fakeDecrypter{}})
			edits, err := r.SetReplicas(tc.fsys, tc.renderedBy, tc.id, tc.replicas)
			if err != nil {
				t.Fatal(err)
			}
			checkEdits(t, tc.fsys, edits, tc.want)
		})
	}
}
