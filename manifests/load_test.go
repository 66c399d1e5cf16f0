package manifests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: app
        image: example.com/%[1]s:1.0
        ports:
        - containerPort: 8080
`

const serviceYAML = `apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector: {app: %[1]s}
  ports:
  - port: 80
    targetPort: 8080
`

func TestLoadTree(t *testing.T) {
	fsys := fstest.MapFS{
		"README.md":               {Data: []byte("# not a manifest: [")},
		"deploy/web/deploy.yaml":  {Data: []byte(fmt.Sprintf(deploymentYAML, "web"))},
		"deploy/web/service.yml":  {Data: []byte(fmt.Sprintf(serviceYAML, "web"))},
		"deploy/api/all.yaml":     {Data: []byte(fmt.Sprintf(deploymentYAML, "api") + "---\n" + fmt.Sprintf(serviceYAML, "api"))},
		"deploy/api/notes.txt":    {Data: []byte("kind: [")},
		"deploy/.git/config.yaml": {Data: []byte("kind: [")},
		"deploy/.draft.yaml":      {Data: []byte("kind: [")},
		"other/x.yaml":            {Data: []byte("kind: [")},
	}
	tests := []struct {
		name      string
		path      string
		wantFiles []string
		wantProbs int
	}{
		{"subdirectory", "deploy", []string{"deploy/api/all.yaml", "deploy/api/all.yaml", "deploy/web/deploy.yaml", "deploy/web/service.yml"}, 0},
		{"subdirectory with slash", "/deploy/", []string{"deploy/api/all.yaml", "deploy/api/all.yaml", "deploy/web/deploy.yaml", "deploy/web/service.yml"}, 0},
		{"single file", "deploy/web/service.yml", []string{"deploy/web/service.yml"}, 1}, // selector warning: no Deployment in the set
		{"root includes other", "", []string{"deploy/api/all.yaml", "deploy/api/all.yaml", "deploy/web/deploy.yaml", "deploy/web/service.yml"}, 1},
		{"missing path", "nope", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Load(fsys, Options{Path: tt.path})
			if err != nil {
				t.Fatal(err)
			}
			var files []string
			for _, o := range res.Objects {
				files = append(files, o.File)
			}
			if strings.Join(files, ",") != strings.Join(tt.wantFiles, ",") {
				t.Errorf("files = %v, want %v", files, tt.wantFiles)
			}
			if len(res.Problems) != tt.wantProbs {
				t.Errorf("got %d problems, want %d:\n%s", len(res.Problems), tt.wantProbs, res.Problems)
			}
			for _, p := range res.Problems {
				if p.File == "" {
					t.Errorf("problem without file: %v", p)
				}
			}
		})
	}
	res, _ := Load(fsys, Options{Path: "deploy"})
	if res.Objects[0].Line != 1 || res.Objects[1].Line != 18 {
		t.Errorf("document lines = %d, %d; want 1, 18", res.Objects[0].Line, res.Objects[1].Line)
	}
}

func TestLoadAcrossFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yaml": {Data: []byte("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 30080\n")},
		"b.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 30080\n")},
		"c.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")},
	}
	res, err := Load(fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Problems.String()
	for _, want := range []string{
		"b.yaml:12: Service default/b: spec.ports[0].nodePort: nodePort 30080/TCP is already used by Service default/a at a.yaml:1",
		"c.yaml:1: ConfigMap default/c: duplicate object: ConfigMap default/c is defined both at b.yaml:1 and at c.yaml:1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	err = res.Problems.Err()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Err() = %v, want ErrInvalid", err)
	}
	if n := strings.Count(err.Error(), "\n"); n != len(res.Problems.Errors()) {
		t.Errorf("Err() has %d lines after the header, want %d: %v", n, len(res.Problems.Errors()), err)
	}
}

func TestLoadSymlinks(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.yaml"), []byte(fmt.Sprintf(serviceYAML, "outside")), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "apps", "web"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "base"), 0o755))
	must(os.WriteFile(filepath.Join(root, "base", "deploy.yaml"), []byte(fmt.Sprintf(deploymentYAML, "web")), 0o644))
	must(os.Symlink("../../base/deploy.yaml", filepath.Join(root, "apps", "web", "deploy.yaml")))     // inside: followed
	must(os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(root, "apps", "abs.yaml")))  // absolute: escapes
	must(os.Symlink("../../../../../../../../etc/hostname", filepath.Join(root, "apps", "rel.yaml"))) // relative: escapes
	must(os.Symlink("../base", filepath.Join(root, "apps", "basedir")))                               // directory: skipped
	must(os.Symlink("missing.yaml", filepath.Join(root, "apps", "dangling.yaml")))                    // dangling
	must(os.Symlink("loop.yaml", filepath.Join(root, "apps", "loop.yaml")))                           // loop

	res, err := Load(os.DirFS(root), Options{Path: "apps"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || res.Objects[0].File != "apps/web/deploy.yaml" || res.Objects[0].ID().Name != "web" {
		t.Fatalf("objects = %+v, want the Deployment through the inside link", res.Objects)
	}
	want := map[string]string{
		"apps/abs.yaml":      "error:points outside the repository",
		"apps/rel.yaml":      "error:points outside the repository",
		"apps/basedir":       "warning:symlink to directory",
		"apps/dangling.yaml": "error:does not exist",
		"apps/loop.yaml":     "error:too many symbolic links",
	}
	got := map[string]bool{}
	for _, p := range res.Problems {
		w, ok := want[p.File]
		if !ok {
			t.Errorf("unexpected problem: %v", p)
			continue
		}
		kind, text, _ := strings.Cut(w, ":")
		if (kind == "warning") != p.Warning || !strings.Contains(p.Message, text) {
			t.Errorf("problem %v, want %s containing %q", p, kind, text)
		}
		got[p.File] = true
	}
	for f := range want {
		if !got[f] {
			t.Errorf("no problem for %s in:\n%s", f, res.Problems)
		}
	}
}

func TestLimits(t *testing.T) {
	big := strings.Repeat("# padding\n", 200) // 2,000 bytes
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\n"
	many := ""
	for i := 0; i < 30; i++ {
		many += fmt.Sprintf("---\n"+doc, i)
	}
	deep := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\n  managedFields:\n  - fieldsV1: " + strings.Repeat("[", 500) + strings.Repeat("]", 500) + "\n"
	tests := []struct {
		name    string
		files   fstest.MapFS
		limits  Limits
		want    string
		objects int
	}{
		{"file too large", fstest.MapFS{"big.yaml": {Data: []byte(big)}, "ok.yaml": {Data: []byte(fmt.Sprintf(doc, 1))}}, Limits{MaxFileBytes: 1000},
			"big.yaml: file is 2000 bytes, larger than the limit of 1000 bytes", 1},
		{"too many documents", fstest.MapFS{"many.yaml": {Data: []byte(many)}}, Limits{MaxDocuments: 10},
			"many.yaml:42: more than 10 documents in the tree; the rest is not read", 10},
		{"documents counted across files", fstest.MapFS{"a.yaml": {Data: []byte(many)}, "b.yaml": {Data: []byte(many)}}, Limits{MaxDocuments: 40},
			"b.yaml:42: more than 40 documents in the tree", 40},
		{"tree too large", fstest.MapFS{"a.yaml": {Data: []byte(big)}, "b.yaml": {Data: []byte(big)}}, Limits{MaxTotalBytes: 3000},
			"b.yaml: the manifests add up to more than the limit of 3000 bytes", 0},
		{"deep nesting", fstest.MapFS{"deep.yaml": {Data: []byte(deep)}}, Limits{},
			"deep.yaml:6: ConfigMap default/deep: document is nested more than 100 levels deep", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Load(tt.files, Options{Limits: tt.limits})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Problems.String(), tt.want) {
				t.Errorf("problems:\n%s\nwant one containing %q", res.Problems, tt.want)
			}
			if len(res.Objects) != tt.objects {
				t.Errorf("got %d objects, want %d", len(res.Objects), tt.objects)
			}
		})
	}
}

func TestDecodeLimitsAndSmallAnchors(t *testing.T) {
	_, ps := Decode("x.yaml", make([]byte, 100), Limits{MaxFileBytes: 10})
	if len(ps) != 1 || !strings.Contains(ps[0].Message, "larger than the limit of 10 bytes") {
		t.Errorf("oversized data: %v", ps)
	}
	// Small anchors, aliases and merge keys are fine.
	src := `apiVersion: v1
kind: Pod
metadata:
  name: p
  labels: &l {app: p}
  annotations: {<<: *l, extra: "yes"}
spec:
  containers:
  - &c
    name: a
    image: busybox:1.36
  - <<: *c
    name: b
`
	objs, ps := Decode("p.yaml", []byte(src), Limits{})
	if len(ps) > 0 || len(objs) != 1 {
		t.Fatalf("problems:\n%s", ps)
	}
	if got := objs[0].Obj.GetAnnotations(); got["app"] != "p" || got["extra"] != "yes" {
		t.Errorf("merged annotations = %v", got)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "apps/web.yaml", Line: 12, Object: "Deployment default/web", Field: "spec.replicas", Message: "must be greater than or equal to 0"},
			"apps/web.yaml:12: Deployment default/web: spec.replicas: must be greater than or equal to 0"},
		{Problem{File: "a.yaml", Message: "file is too large"}, "a.yaml: file is too large"},
		{Problem{File: "a.yaml", Line: 3, Field: "kind", Message: "required value", Warning: true}, "warning: a.yaml:3: kind: required value"},
		{Problem{Message: "bare"}, "bare"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("got %q", got)
			}
		})
	}
	ps := Problems{{File: "a", Message: "x", Warning: true}, {File: "b", Message: "y"}}
	if len(ps.Errors()) != 1 || len(ps.Warnings()) != 1 {
		t.Errorf("Errors/Warnings split wrong")
	}
	if (Problems{{File: "a", Message: "x", Warning: true}}).Err() != nil {
		t.Errorf("warnings alone must not be an error")
	}
}

func TestIDAndSupported(t *testing.T) {
	objs := loadGood(t)
	if _, ok := objs["Namespace shop"]; !ok {
		t.Errorf("cluster-scoped ID not rendered without namespace: %v", objs)
	}
	if len(Supported()) != 19 {
		t.Errorf("Supported() = %v", Supported())
	}
}

func TestValidateWithoutSource(t *testing.T) {
	objs, _ := Decode("p.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: busybox:1.36\n"), Limits{})
	o := objs[0]
	o.src = nil // as if built by a caller
	o.Line = 7
	o.Obj.(interface{ SetName(string) }).SetName("Bad_Name")
	ps := Validate([]Object{o})
	if len(ps) != 1 || ps[0].Line != 7 || ps[0].Field != "metadata.name" {
		t.Errorf("problems = %v", ps)
	}
}
