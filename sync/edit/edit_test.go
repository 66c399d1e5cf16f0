package edit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/gittest"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/edit"
	"github.com/bosun-dev/bosun/sync/gitwrite"
	"github.com/bosun-dev/bosun/sync/yamledit"
)

// webYAML is the repository's web Deployment with a second container.
const webYAML = gittest.Web + `      - name: proxy
        image: proxy:1.0
`

// repo is a local repository on branch main, written with go-git.
type repo struct {
	t    *testing.T
	dir  string
	git  *git.Repository
	tick int
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	dir := t.TempDir()
	g, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &repo{t: t, dir: dir, git: g}
}

// commit writes apps/web.yaml and commits it.
func (r *repo) commit(msg, content string) string {
	r.t.Helper()
	if err := os.MkdirAll(filepath.Join(r.dir, "apps"), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "apps", "web.yaml"), []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	wt, err := r.git.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := wt.Add("apps/web.yaml"); err != nil {
		r.t.Fatal(err)
	}
	r.tick++
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "Jo", Email: "jo@example.com", When: time.Unix(1700000000+int64(r.tick), 0)}})
	if err != nil {
		r.t.Fatal(err)
	}
	return h.String()
}

// head returns the subject and apps/web.yaml of main's head.
func (r *repo) head() (subject, file string) {
	r.t.Helper()
	ref, err := r.git.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		r.t.Fatal(err)
	}
	c, err := r.git.CommitObject(ref.Hash())
	if err != nil {
		r.t.Fatal(err)
	}
	f, err := c.File("apps/web.yaml")
	if err != nil {
		r.t.Fatal(err)
	}
	content, err := f.Contents()
	if err != nil {
		r.t.Fatal(err)
	}
	subject, _, _ = strings.Cut(c.Message, "\n")
	return subject, content
}

func (r *repo) writer() *gitwrite.Writer {
	r.t.Helper()
	w, err := gitwrite.New(gitwrite.Config{URL: r.dir, Branch: "main"})
	if err != nil {
		r.t.Fatal(err)
	}
	return w
}

// objects is a Getter over a map of "resource/namespace/name" keys.
type objects map[string]api.Object

func (o objects) Get(_ context.Context, r api.Resource, namespace, name string) (api.Object, error) {
	if obj, ok := o[r.Name+"/"+namespace+"/"+name]; ok {
		return obj, nil
	}
	return nil, fmt.Errorf("%s %s/%s: %w", r.Kind, namespace, name, api.ErrNotFound)
}

// synced decodes content as sync would store it: managed by bosun, from
// apps/web.yaml:2.
func synced(t *testing.T, content, source string) api.Object {
	t.Helper()
	objs, probs := manifests.Decode("apps/web.yaml", []byte(content), manifests.Limits{})
	if err := probs.Err(); err != nil || len(objs) != 1 {
		t.Fatalf("decode: %v, %d objects", err, len(objs))
	}
	obj := objs[0].Obj.(api.Object)
	if source != "" {
		obj.SetLabels(map[string]string{api.LabelManagedBy: api.ManagedByValue})
		obj.SetAnnotations(map[string]string{api.AnnotationSource: source})
	}
	return obj
}

func TestFind(t *testing.T) {
	live := synced(t, strings.Replace(webYAML, "name: web ", "name: live", 1), "")
	noLine := synced(t, strings.Replace(webYAML, "name: web ", "name: noline", 1), "apps/noline.yaml")
	get := objects{
		"deployments/default/web":    synced(t, webYAML, "apps/web.yaml:2"),
		"deployments/default/live":   live,
		"deployments/default/noline": noLine,
	}
	tests := []struct {
		name     string
		ref      string
		kinds    []string
		wantFile string
		wantErr  string
		wantIs   error
	}{
		{name: "synced object", ref: "deploy/web", kinds: edit.ScaleKinds(), wantFile: "apps/web.yaml"},
		{name: "long kind name", ref: "deployments/web", kinds: []string{"deployments"}, wantFile: "apps/web.yaml"},
		{name: "source without a line", ref: "deploy/noline", kinds: edit.ImageKinds(), wantFile: "apps/noline.yaml"},
		{name: "not from Git", ref: "deploy/live", kinds: edit.ScaleKinds(), wantErr: "Deployment default/live is not managed by Git"},
		{name: "no kind", ref: "web", kinds: edit.ScaleKinds(), wantErr: "give the object as KIND/NAME"},
		{name: "no name", ref: "deploy/", kinds: edit.ScaleKinds(), wantErr: "give the object as KIND/NAME"},
		{name: "kind not accepted", ref: "svc/web", kinds: edit.ScaleKinds(), wantErr: "kind must be one of deployments, replicasets, replicationcontrollers"},
		{name: "unknown kind", ref: "widget/web", kinds: edit.ScaleKinds(), wantErr: "kind must be one of"},
		{name: "missing", ref: "deploy/nope", kinds: edit.ScaleKinds(), wantIs: api.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := edit.Find(t.Context(), get, tt.ref, "default", tt.kinds...)
			switch {
			case tt.wantIs != nil:
				if !errors.Is(err, tt.wantIs) {
					t.Fatalf("err = %v, want %v", err, tt.wantIs)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if got.File != tt.wantFile || got.Resource.Kind != "Deployment" || got.Object == nil {
					t.Errorf("Find = %+v, want file %s", got, tt.wantFile)
				}
			}
		})
	}
}

func TestParseImages(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []edit.Image
		wantErr bool
	}{
		{name: "one", args: []string{"app=web:v2"}, want: []edit.Image{{Container: "app", Image: "web:v2"}}},
		{name: "image with a registry port", args: []string{"app=registry.local:5000/web:v2", "proxy=p:1"},
			want: []edit.Image{{Container: "app", Image: "registry.local:5000/web:v2"}, {Container: "proxy", Image: "p:1"}}},
		{name: "no =", args: []string{"app"}, wantErr: true},
		{name: "no container", args: []string{"=web:v2"}, wantErr: true},
		{name: "no image", args: []string{"app="}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := edit.ParseImages(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseImages = %v, want %v", got, tt.want)
			}
		})
	}
	if got := edit.JoinImages([]edit.Image{{"app", "a:1"}, {"proxy", "p:2"}}); got != "app=a:1, proxy=p:2" {
		t.Errorf("JoinImages = %q", got)
	}
}

func TestScaleAndSetImages(t *testing.T) {
	r := newRepo(t)
	r.commit("web v1", webYAML)
	w := r.writer()
	target, err := edit.Find(t.Context(), objects{"deployments/default/web": synced(t, webYAML, "apps/web.yaml:2")}, "deploy/web", "default", edit.ImageKinds()...)
	if err != nil {
		t.Fatal(err)
	}
	want := webYAML

	steps := []struct {
		name    string
		run     func() (edit.Result, error)
		subject string    // "" = no commit
		replace [2]string // the change to the file, if any
		wantIs  error     // nil = success
		wantErr string    // part of the error
	}{
		{name: "scale", run: func() (edit.Result, error) { return edit.Scale(t.Context(), w, target, 4, gitwrite.PushOptions{}) },
			subject: "Scale Deployment default/web to 4 replicas", replace: [2]string{"replicas: 2 #", "replicas: 4 #"}},
		{name: "scale again", run: func() (edit.Result, error) { return edit.Scale(t.Context(), w, target, 4, gitwrite.PushOptions{}) },
			wantIs: gitwrite.ErrNoChange},
		{name: "two images", run: func() (edit.Result, error) {
			return edit.SetImages(t.Context(), w, target, []edit.Image{{"app", "bosun.local/hello:v2"}, {"proxy", "proxy:1.1"}}, gitwrite.PushOptions{})
		}, subject: "Set image of Deployment default/web: app=bosun.local/hello:v2, proxy=proxy:1.1", replace: [2]string{`"bosun.local/hello:v1"`, `"bosun.local/hello:v2"`}},
		{name: "same images", run: func() (edit.Result, error) {
			return edit.SetImages(t.Context(), w, target, []edit.Image{{"app", "bosun.local/hello:v2"}}, gitwrite.PushOptions{})
		}, wantIs: gitwrite.ErrNoChange},
		{name: "unknown container", run: func() (edit.Result, error) {
			return edit.SetImages(t.Context(), w, target, []edit.Image{{"app", "x:1"}, {"db", "x:1"}}, gitwrite.PushOptions{})
		}, wantIs: yamledit.ErrNotFound, wantErr: `apps/web.yaml: yamledit: Deployment default/web: spec.template.spec.containers: container "db" not found`},
		{name: "no images", run: func() (edit.Result, error) {
			return edit.SetImages(t.Context(), w, target, nil, gitwrite.PushOptions{})
		},
			wantErr: "no images to set"},
	}
	for _, s := range steps {
		before, _ := r.head()
		res, err := s.run()
		if s.wantIs != nil || s.wantErr != "" {
			if err == nil || (s.wantIs != nil && !errors.Is(err, s.wantIs)) || !strings.Contains(err.Error(), s.wantErr) {
				t.Errorf("%s: err = %v, want %v containing %q", s.name, err, s.wantIs, s.wantErr)
			}
			if subject, file := r.head(); subject != before || file != want {
				t.Errorf("%s: the branch moved to %q", s.name, subject)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want = strings.Replace(want, s.replace[0], s.replace[1], 1)
		if s.name == "two images" {
			want = strings.Replace(want, "proxy:1.0", "proxy:1.1", 1)
		}
		subject, file := r.head()
		if subject != s.subject || res.Message != s.subject || len(res.SHA) != 40 {
			t.Errorf("%s: commit %q (result %+v), want %q", s.name, subject, res, s.subject)
		}
		if file != want {
			t.Errorf("%s: file:\n%s\nwant:\n%s", s.name, file, want)
		}
	}
}

func TestLastTemplateChange(t *testing.T) {
	r := newRepo(t)
	r.commit("web v1", webYAML)
	v2 := r.commit("web v2", strings.Replace(webYAML, "hello:v1", "hello:v2", 1))
	r.commit("scale web", strings.Replace(strings.Replace(webYAML, "hello:v1", "hello:v2", 1), "replicas: 2", "replicas: 5", 1))
	r.commit("comment only", strings.Replace(strings.Replace(webYAML, "hello:v1", "hello:v2", 1), "replicas: 2", "replicas: 5", 1)+"# end\n")
	w := r.writer()
	get := objects{"deployments/default/web": synced(t, webYAML, "apps/web.yaml:2")}
	target, err := edit.Find(t.Context(), get, "deploy/web", "default", "deployments")
	if err != nil {
		t.Fatal(err)
	}
	c, err := edit.LastTemplateChange(t.Context(), w, target)
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != v2 || c.Subject != "web v2" {
		t.Errorf("LastTemplateChange = %s %q, want %s \"web v2\"", c.SHA, c.Subject, v2)
	}

	// A repository whose only commit added the Deployment: nothing to undo.
	r = newRepo(t)
	r.commit("web v1", webYAML)
	_, err = edit.LastTemplateChange(t.Context(), r.writer(), target)
	if !errors.Is(err, gitwrite.ErrNotFound) || !strings.Contains(err.Error(), "no commit in the history of apps/web.yaml changed the pod template of Deployment default/web") {
		t.Errorf("err = %v, want gitwrite.ErrNotFound naming the file", err)
	}

	// Only Deployments have revisions.
	rs := synced(t, strings.Replace(webYAML, "kind: Deployment", "kind: ReplicaSet", 1), "apps/web.yaml:2")
	_, err = edit.LastTemplateChange(t.Context(), w, edit.Target{Resource: storetest.Resource(t, "replicasets"), Object: rs, File: "apps/web.yaml"})
	if err == nil {
		t.Error("LastTemplateChange of a ReplicaSet: no error")
	}
}

func TestTemplateChanged(t *testing.T) {
	v2 := strings.Replace(webYAML, "hello:v1", "hello:v2", 1)
	other := "---\n" + strings.Replace(strings.Replace(webYAML, "name: web ", "name: api ", 1), "hello:v1", "api:v1", 1)
	tests := []struct {
		name          string
		before, after string // "" = no file
		want          bool
	}{
		{name: "image changed", before: webYAML, after: v2, want: true},
		{name: "environment added", before: webYAML, after: strings.Replace(webYAML, "image: proxy:1.0", "image: proxy:1.0\n        env: [{name: X, value: \"1\"}]", 1), want: true},
		{name: "only scaled", before: webYAML, after: strings.Replace(webYAML, "replicas: 2", "replicas: 9", 1)},
		{name: "only comments", before: webYAML, after: webYAML + "# end\n"},
		{name: "file added", after: webYAML},
		{name: "file deleted", before: webYAML},
		{name: "another Deployment of the file changed", before: webYAML + other, after: webYAML + strings.Replace(other, "api:v1", "api:v2", 1)},
		{name: "in another namespace", before: strings.Replace(webYAML, "name: web ", "name: web\n  namespace: shop", 1),
			after: strings.Replace(v2, "name: web ", "name: web\n  namespace: shop", 1)},
	}
	match := edit.TemplateChanged("default", "web")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after []byte
			if tt.before != "" {
				before = []byte(tt.before)
			}
			if tt.after != "" {
				after = []byte(tt.after)
			}
			if got := match("apps/web.yaml", before, after); got != tt.want {
				t.Errorf("TemplateChanged = %v, want %v", got, tt.want)
			}
		})
	}
}
