package manifests

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// fakeRenderer claims directories holding its marker file for rendering
// and those holding its skip file for skipping, records the directories
// Render is given and returns out.
type fakeRenderer struct {
	name, marker, skip string
	out                []Rendered
	problems           Problems
	err                error
	calls              [][]string
}

func (r *fakeRenderer) Name() string { return r.name }

func (r *fakeRenderer) Claim(_ fs.FS, _ string, entries []fs.DirEntry) Claim {
	for _, e := range entries {
		switch e.Name() {
		case r.marker:
			return ClaimRender
		case r.skip:
			return ClaimSkip
		}
	}
	return ClaimNone
}

func (r *fakeRenderer) Render(_ fs.FS, dirs []string) ([]Rendered, Problems, error) {
	r.calls = append(r.calls, dirs)
	return r.out, r.problems, r.err
}

// broken is a file Load must never read: it is invalid YAML.
var broken = &fstest.MapFile{Data: []byte("kind: [\n")}

func TestLoadRendererClaims(t *testing.T) {
	fsys := fstest.MapFS{
		"apps/plain.yaml":                      {Data: []byte(fmt.Sprintf(deploymentYAML, "web"))},
		"apps/overlay/kustomization.yaml":      broken,
		"apps/overlay/patch.yaml":              broken,
		"apps/overlay/sub/deep.yaml":           broken,
		"apps/chart/Chart.yaml":                broken,
		"apps/chart/templates/deployment.yaml": broken,
		"apps/helm/bosun-helm.yaml":            broken,
		"apps/both/kustomization.yaml":         broken,
		"apps/both/bosun-helm.yaml":            broken,
	}
	tests := []struct {
		name         string
		path         string
		wantKust     [][]string
		wantHelm     [][]string
		wantObjects  int
		wantProblems []string
	}{
		{name: "root", path: "", wantKust: [][]string{{"apps/both", "apps/overlay"}}, wantHelm: [][]string{{"apps/helm"}}, wantObjects: 1,
			wantProblems: []string{"warning: apps/both/kustomization.yaml: apps/both/bosun-helm.yaml is ignored: the directory is rendered by kustomize (apps/both/kustomization.yaml), the first renderer that claims it, and helm claims it too; keep one of the two files"}},
		{name: "sync path claimed itself", path: "apps/overlay", wantKust: [][]string{{"apps/overlay"}}},
		{name: "sync path skipped itself", path: "apps/chart"},
		{name: "sync path is a helm directory", path: "apps/helm", wantHelm: [][]string{{"apps/helm"}}},
		{name: "file in a claimed directory is read as a file", path: "apps/overlay/sub/deep.yaml",
			wantProblems: []string{"apps/overlay/sub/deep.yaml:1: invalid YAML: did not find expected node content"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kust := &fakeRenderer{name: "kustomize", marker: "kustomization.yaml"}
			helm := &fakeRenderer{name: "helm", marker: "bosun-helm.yaml", skip: "Chart.yaml"}
			res, err := Load(fsys, Options{Path: tt.path, Renderers: []Renderer{kust, helm}})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(kust.calls, tt.wantKust, slices.Equal) {
				t.Errorf("kustomize rendered %q, want %q", kust.calls, tt.wantKust)
			}
			if !slices.EqualFunc(helm.calls, tt.wantHelm, slices.Equal) {
				t.Errorf("helm rendered %q, want %q", helm.calls, tt.wantHelm)
			}
			if len(res.Objects) != tt.wantObjects {
				t.Errorf("got %d objects, want %d", len(res.Objects), tt.wantObjects)
			}
			if got := problemStrings(res.Problems); !slices.Equal(got, tt.wantProblems) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantProblems, "\n"))
			}
		})
	}
}

func problemStrings(ps Problems) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

const renderedBy = "overlays/prod/kustomization.yaml"

// rendered returns a Rendered object rendered by renderedBy.
func rendered(file string, line int, data string) Rendered {
	return Rendered{Data: []byte(data), File: file, Line: line, RenderedBy: renderedBy}
}

func TestLoadRenderedObjects(t *testing.T) {
	badDeploy := strings.Replace(fmt.Sprintf(deploymentYAML, "api"), "spec:\n", "spec:\n  replicas: -1\n  replica: 2\n", 1)
	tests := []struct {
		name   string
		plain  string // deploy/plain.yaml, when set
		out    []Rendered
		render Problems
		limits Limits
		want   []string
		// wantObjects lists "ID File:Line RenderedBy Encrypted" of each object.
		wantObjects []string
	}{
		{
			name: "object keeps where it comes from",
			out:  []Rendered{{Data: []byte(fmt.Sprintf(deploymentYAML, "web")), File: "base/web.yaml", Line: 3, RenderedBy: renderedBy, Encrypted: true}},
			wantObjects: []string{
				"Deployment default/web base/web.yaml:3 " + renderedBy + " true",
			},
		},
		{
			name: "problems name the rendered file, its line and the renderer",
			out:  []Rendered{rendered("base/api.yaml", 7, badDeploy)},
			want: []string{
				"base/api.yaml:7: Deployment default/api: spec.replica: unknown field \"replica\"; did you mean \"replicas\"? (rendered by overlays/prod/kustomization.yaml)",
				"base/api.yaml:7: Deployment default/api: spec.replicas: invalid value: -1: must be greater than or equal to 0 (rendered by overlays/prod/kustomization.yaml)",
			},
		},
		{
			name:   "renderer problems are merged",
			out:    []Rendered{rendered("base/web.yaml", 1, fmt.Sprintf(deploymentYAML, "web"))},
			render: Problems{{File: renderedBy, Line: 4, Message: "resource missing.yaml: file does not exist"}},
			want:   []string{renderedBy + ":4: resource missing.yaml: file does not exist"},
			wantObjects: []string{
				"Deployment default/web base/web.yaml:1 " + renderedBy + " false",
			},
		},
		{
			name:  "duplicate across plain and rendered names both places",
			plain: fmt.Sprintf(deploymentYAML, "web"),
			out:   []Rendered{rendered("base/web.yaml", 1, fmt.Sprintf(deploymentYAML, "web"))},
			want: []string{
				"deploy/plain.yaml:1: Deployment default/web: duplicate object: Deployment default/web is defined both at base/web.yaml:1 (rendered by overlays/prod/kustomization.yaml) and at deploy/plain.yaml:1; keep one",
			},
			wantObjects: []string{
				"Deployment default/web base/web.yaml:1 " + renderedBy + " false",
				"Deployment default/web deploy/plain.yaml:1  false",
			},
		},
		{
			name:  "cross-object checks see plain and rendered objects together",
			plain: fmt.Sprintf(serviceYAML, "web"), // selects the rendered Deployment's pods
			out:   []Rendered{rendered("base/web.yaml", 1, fmt.Sprintf(deploymentYAML, "web"))},
			wantObjects: []string{
				"Deployment default/web base/web.yaml:1 " + renderedBy + " false",
				"Service default/web deploy/plain.yaml:1  false",
			},
		},
		{
			name:   "rendered documents count against MaxDocuments",
			plain:  fmt.Sprintf(deploymentYAML, "web"),
			out:    []Rendered{rendered("base/a.yaml", 2, fmt.Sprintf(serviceYAML, "a")), rendered("base/b.yaml", 5, fmt.Sprintf(serviceYAML, "b"))},
			limits: Limits{MaxDocuments: 2},
			want: []string{
				"base/b.yaml:5: more than 2 documents in the tree; the rest is not read, and the checks across objects that need the whole tree are skipped (rendered by overlays/prod/kustomization.yaml)",
			},
			wantObjects: []string{
				"Service default/a base/a.yaml:2 " + renderedBy + " false",
				"Deployment default/web deploy/plain.yaml:1  false",
			},
		},
		{
			name:   "rendered bytes count against MaxTotalBytes",
			plain:  fmt.Sprintf(deploymentYAML, "web"),
			out:    []Rendered{rendered("base/a.yaml", 2, fmt.Sprintf(serviceYAML, "a")), rendered("base/b.yaml", 5, fmt.Sprintf(serviceYAML, "b"))},
			limits: Limits{MaxTotalBytes: int64(len(fmt.Sprintf(deploymentYAML, "web")) + len(fmt.Sprintf(serviceYAML, "a")) + 10)},
			want: []string{
				"base/b.yaml:5: the manifests and rendered objects add up to more than the limit of 411 bytes; this object and the ones rendered after it are not read (rendered by overlays/prod/kustomization.yaml)",
			},
			wantObjects: []string{
				"Service default/a base/a.yaml:2 " + renderedBy + " false",
				"Deployment default/web deploy/plain.yaml:1  false",
			},
		},
		{
			name:   "a rendered object larger than MaxFileBytes is refused and the set is incomplete",
			out:    []Rendered{rendered("base/a.yaml", 2, fmt.Sprintf(serviceYAML, "a")), rendered("base/b.yaml", 5, fmt.Sprintf(deploymentYAML, "b"))},
			limits: Limits{MaxFileBytes: 200},
			want: []string{
				"base/b.yaml:5: the rendered object is 274 bytes, larger than the limit of 200 bytes for one file; it is not read (rendered by overlays/prod/kustomization.yaml)",
			},
			wantObjects: []string{
				"Service default/a base/a.yaml:2 " + renderedBy + " false",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"overlays/prod/kustomization.yaml": broken}
			if tt.plain != "" {
				fsys["deploy/plain.yaml"] = &fstest.MapFile{Data: []byte(tt.plain)}
			}
			r := &fakeRenderer{name: "kustomize", marker: "kustomization.yaml", out: tt.out, problems: tt.render}
			res, err := Load(fsys, Options{Renderers: []Renderer{r}, Limits: tt.limits})
			if err != nil {
				t.Fatal(err)
			}
			if got := problemStrings(res.Problems); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var objs []string
			for _, o := range res.Objects {
				objs = append(objs, fmt.Sprintf("%s %s:%d %s %t", o.ID(), o.File, o.Line, o.RenderedBy, o.Encrypted))
			}
			if !slices.Equal(objs, tt.wantObjects) {
				t.Errorf("objects:\n%s\nwant:\n%s", strings.Join(objs, "\n"), strings.Join(tt.wantObjects, "\n"))
			}
		})
	}
}

func TestLoadRenderError(t *testing.T) {
	errTree := errors.New("tree unreadable")
	r := &fakeRenderer{name: "kustomize", marker: "kustomization.yaml", err: errTree}
	fsys := fstest.MapFS{"app/kustomization.yaml": broken}
	_, err := Load(fsys, Options{Renderers: []Renderer{r}})
	if !errors.Is(err, errTree) || !strings.Contains(err.Error(), "app") {
		t.Errorf("Load error = %v, want one wrapping %v naming app", err, errTree)
	}
}
