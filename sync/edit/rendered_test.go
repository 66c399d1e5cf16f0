package edit_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/sync/edit"
	"github.com/bosun-dev/bosun/sync/gitwrite"
)

// fakeEditor is a renderer's editor that rewrites apps/web.yaml's first
// line to say what it was asked, after reading the file through the tree
// it is given; fail makes it refuse.
type fakeEditor struct {
	got  []string
	fail error
}

func (f *fakeEditor) edit(fsys fs.FS, renderedBy string, id manifests.ID, what string) ([]manifests.FileEdit, error) {
	f.got = append(f.got, renderedBy+" "+id.String()+" "+what)
	if f.fail != nil {
		return nil, f.fail
	}
	data, err := fs.ReadFile(fsys, "apps/web.yaml")
	if err != nil {
		return nil, err
	}
	return []manifests.FileEdit{{Path: "apps/web.yaml", Data: []byte("# " + what + "\n" + string(data))}}, nil
}

func (f *fakeEditor) SetImages(fsys fs.FS, renderedBy string, id manifests.ID, images map[string]string) ([]manifests.FileEdit, error) {
	return f.edit(fsys, renderedBy, id, "image "+images["app"])
}

func (f *fakeEditor) SetReplicas(fsys fs.FS, renderedBy string, id manifests.ID, replicas int32) ([]manifests.FileEdit, error) {
	return f.edit(fsys, renderedBy, id, "replicas "+string(rune('0'+replicas)))
}

// TestRenderedTargets checks that an object rendered by Kustomize or Helm
// is edited through its renderer's editor, in one commit on the branch
// head's tree, and refused without one.
func TestRenderedTargets(t *testing.T) {
	r := newRepo(t)
	r.commit("web v1", webYAML)
	w := r.writer()
	obj := synced(t, webYAML, "apps/web.yaml:2")
	ann := obj.GetAnnotations()
	ann[api.AnnotationRenderedBy] = "overlays/prod/kustomization.yaml"
	obj.SetAnnotations(ann)
	target, err := edit.Find(t.Context(), objects{"deployments/default/web": obj}, "deploy/web", "default", edit.ImageKinds()...)
	if err != nil {
		t.Fatal(err)
	}
	if target.RenderedBy != "overlays/prod/kustomization.yaml" {
		t.Fatalf("RenderedBy = %q", target.RenderedBy)
	}
	if _, err := edit.Scale(t.Context(), w, target, 3, gitwrite.PushOptions{}); err == nil || !strings.Contains(err.Error(), "rendered by overlays/prod/kustomization.yaml") {
		t.Fatalf("scale without an editor: %v", err)
	}

	ed := &fakeEditor{}
	target.Editor = ed
	if _, err := edit.Scale(t.Context(), w, target, 3, gitwrite.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if subject, file := r.head(); subject != "Scale Deployment default/web to 3 replicas" || !strings.HasPrefix(file, "# replicas 3\n") {
		t.Fatalf("after scale: %q\n%s", subject, file)
	}
	if _, err := edit.SetImages(t.Context(), w, target, []edit.Image{{Container: "app", Image: "web:v9"}}, gitwrite.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, file := r.head(); !strings.HasPrefix(file, "# image web:v9\n# replicas 3\n") {
		t.Fatalf("after set image:\n%s", file)
	}
	want := []string{
		"overlays/prod/kustomization.yaml Deployment default/web replicas 3",
		"overlays/prod/kustomization.yaml Deployment default/web image web:v9",
	}
	if strings.Join(ed.got, "\n") != strings.Join(want, "\n") {
		t.Errorf("editor calls:\n%s\nwant:\n%s", strings.Join(ed.got, "\n"), strings.Join(want, "\n"))
	}

	// A refusal commits nothing and says why.
	ed.fail = errors.New("spec.replicas is computed by templates/web.yaml")
	before, _ := r.head()
	if _, err := edit.Scale(t.Context(), w, target, 5, gitwrite.PushOptions{}); err == nil || !strings.Contains(err.Error(), "computed by templates/web.yaml") {
		t.Fatalf("refused edit: %v", err)
	}
	if after, _ := r.head(); after != before {
		t.Errorf("a refused edit moved the branch to %q", after)
	}
	if _, err := edit.LastTemplateChange(t.Context(), w, target); err == nil || !strings.Contains(err.Error(), "roll back a commit by its SHA") {
		t.Errorf("LastTemplateChange of a rendered Deployment: %v", err)
	}
}
