package edit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/sync/gitwrite"
	"github.com/bosun-dev/bosun/sync/yamledit"
)

// Getter reads live objects. *client.Client satisfies it. Get returns an
// error wrapping api.ErrNotFound for a missing object.
type Getter interface {
	Get(ctx context.Context, r api.Resource, namespace, name string) (api.Object, error)
}

// Writer writes commits to the repository sync reads. *gitwrite.Writer
// satisfies it; see that package for what each method does, how it retries
// and the errors it returns.
type Writer interface {
	// Commit runs edit on the tree of the branch head and commits the result.
	Commit(ctx context.Context, message string, edit func(t *gitwrite.Tree) error, opts gitwrite.PushOptions) (string, error)
	// LastCommitTouching returns the latest first-parent commit whose change
	// to one of paths satisfies match.
	LastCommitTouching(ctx context.Context, paths []string, match func(path string, before, after []byte) bool) (gitwrite.Commit, error)
}

// ScaleKinds returns the resources Scale accepts.
func ScaleKinds() []string {
	return []string{"deployments", "replicasets", "replicationcontrollers", "statefulsets"}
}

// ImageKinds returns the resources SetImages accepts: those with replicas,
// Pods, DaemonSets, Jobs and CronJobs (their job template).
func ImageKinds() []string {
	return append(ScaleKinds(), "pods", "daemonsets", "jobs", "cronjobs")
}

// notScalable says why the kinds with pods but no replicas cannot be
// scaled, and what to change instead.
var notScalable = map[string]string{
	"DaemonSet": "a DaemonSet runs one pod on each eligible node and has no replicas to scale; change which nodes it runs on (nodeSelector, affinity, tolerations) in Git instead",
	"Job":       "a Job has no replicas to scale; change spec.parallelism (pods at once) or spec.completions in Git instead",
	"CronJob":   "a CronJob has no replicas to scale; change spec.jobTemplate.spec.parallelism in Git, or suspend it with spec.suspend: true",
}

// ScaleRefusal returns why objects of kind cannot be scaled (a DaemonSet,
// Job or CronJob) and false for any other kind.
func ScaleRefusal(kind string) (string, bool) {
	why, ok := notScalable[kind]
	return why, ok
}

// Target is a live object synced from Git and the file it comes from.
type Target struct {
	// Resource is the object's kind.
	Resource api.Resource
	// Object is the object as the API returned it.
	Object api.Object
	// File is the repository path of the file that defines it, from its
	// bosun.dev/source annotation without the line number.
	File string
	// RenderedBy is the kustomization or bosun-helm.yaml that renders the
	// object (its bosun.dev/rendered-by annotation); "" for a plain
	// manifest, whose File is edited directly.
	RenderedBy string
	// Editor edits the sources of a rendered object (the renderer of
	// RenderedBy); Scale and SetImages refuse a rendered object without
	// one.
	Editor manifests.RenderedEditor
}

// String names the object: "Deployment shop/web".
func (t Target) String() string {
	return fmt.Sprintf("%s %s/%s", t.Resource.Kind, t.Object.GetNamespace(), t.Object.GetName())
}

// Find fetches the object ref names ("KIND/NAME", e.g. "deploy/web", in
// namespace) through g and returns it with the file it comes from. kinds
// lists the resource names (e.g. "deployments") accepted; with
// ScaleKinds, a DaemonSet, Job or CronJob is refused with ScaleRefusal's
// reason. An object that sync did not write is refused: there is no file
// to change.
func Find(ctx context.Context, g Getter, ref, namespace string, kinds ...string) (Target, error) {
	kind, name, ok := strings.Cut(ref, "/")
	if !ok || name == "" {
		return Target{}, fmt.Errorf("edit: %q: give the object as KIND/NAME, e.g. deploy/web", ref)
	}
	r, ok := api.Lookup(kind)
	if ok && !slices.Contains(kinds, r.Name) && slices.Equal(kinds, ScaleKinds()) {
		if why, refused := ScaleRefusal(r.Kind); refused {
			return Target{}, fmt.Errorf("edit: %q: %s", ref, why)
		}
	}
	if !ok || !slices.Contains(kinds, r.Name) {
		return Target{}, fmt.Errorf("edit: %q: kind must be one of %s", ref, strings.Join(kinds, ", "))
	}
	obj, err := g.Get(ctx, r, namespace, name)
	if err != nil {
		return Target{}, fmt.Errorf("edit: %w", err)
	}
	file, ok := SourceFile(obj)
	if !ok {
		return Target{}, fmt.Errorf("edit: %s %s/%s is not managed by Git (no %s annotation), so there is no file to change; bosun only edits objects synced from the repository",
			r.Kind, obj.GetNamespace(), name, api.AnnotationSource)
	}
	return Target{Resource: r, Object: obj, File: file, RenderedBy: obj.GetAnnotations()[api.AnnotationRenderedBy]}, nil
}

// SourceFile returns the file an object synced from Git comes from: its
// bosun.dev/source annotation ("apps/web.yaml:12") without the line number.
// It reports false for an object sync did not write.
func SourceFile(obj api.Object) (string, bool) {
	src := obj.GetAnnotations()[api.AnnotationSource]
	file := src
	if i := strings.LastIndex(src, ":"); i > 0 {
		if _, err := strconv.Atoi(src[i+1:]); err == nil {
			file = src[:i]
		}
	}
	if obj.GetLabels()[api.LabelManagedBy] != api.ManagedByValue || file == "" {
		return "", false
	}
	return file, true
}

// Result is a commit an edit wrote.
type Result struct {
	// SHA is the new commit.
	SHA string
	// Message is its message, which says what changed.
	Message string
}

// Scale commits spec.replicas = replicas in t's file (a Deployment,
// ReplicaSet, ReplicationController or StatefulSet; a DaemonSet, Job or
// CronJob is refused with ScaleRefusal's reason). When the file already
// says so it commits nothing and returns an error wrapping
// gitwrite.ErrNoChange.
func Scale(ctx context.Context, w Writer, t Target, replicas int32, opts gitwrite.PushOptions) (Result, error) {
	if why, refused := ScaleRefusal(t.Resource.Kind); refused {
		return Result{}, fmt.Errorf("edit: %s: %s", t, why)
	}
	msg := fmt.Sprintf("Scale %s to %d replicas", t, replicas)
	if t.RenderedBy != "" {
		return commitRendered(ctx, w, t, msg, func(fsys fs.FS) ([]manifests.FileEdit, error) {
			return t.Editor.SetReplicas(fsys, t.RenderedBy, t.id(), replicas)
		}, opts)
	}
	return commitFile(ctx, w, t.File, msg, func(b []byte) ([]byte, error) {
		return yamledit.SetReplicas(b, t.Resource.Kind, t.Object.GetNamespace(), t.Object.GetName(), replicas)
	}, opts)
}

// Image is a new image for one container.
type Image struct {
	Container string
	Image     string
}

// String returns "CONTAINER=IMAGE".
func (i Image) String() string { return i.Container + "=" + i.Image }

// ParseImages parses "CONTAINER=IMAGE" arguments.
func ParseImages(args []string) ([]Image, error) {
	out := make([]Image, 0, len(args))
	for _, a := range args {
		c, img, ok := strings.Cut(a, "=")
		if !ok || c == "" || img == "" {
			return nil, fmt.Errorf("edit: %q: give CONTAINER=IMAGE", a)
		}
		out = append(out, Image{Container: c, Image: img})
	}
	return out, nil
}

// JoinImages prints images as "app=web:v2, sidecar=proxy:1.1".
func JoinImages(images []Image) string {
	parts := make([]string, len(images))
	for i, img := range images {
		parts[i] = img.String()
	}
	return strings.Join(parts, ", ")
}

// SetImages commits the images of t's containers in t's file, in one
// commit: the pod template's containers and init containers (a CronJob's
// under spec.jobTemplate). When every container already runs its image it commits nothing
// and returns an error wrapping gitwrite.ErrNoChange; a container the
// object does not have is an error wrapping yamledit.ErrNotFound.
func SetImages(ctx context.Context, w Writer, t Target, images []Image, opts gitwrite.PushOptions) (Result, error) {
	if len(images) == 0 {
		return Result{}, fmt.Errorf("edit: %s: no images to set", t)
	}
	msg := fmt.Sprintf("Set image of %s: %s", t, JoinImages(images))
	if t.RenderedBy != "" {
		byName := make(map[string]string, len(images))
		for _, img := range images {
			byName[img.Container] = img.Image
		}
		return commitRendered(ctx, w, t, msg, func(fsys fs.FS) ([]manifests.FileEdit, error) {
			return t.Editor.SetImages(fsys, t.RenderedBy, t.id(), byName)
		}, opts)
	}
	return commitFile(ctx, w, t.File, msg, func(b []byte) ([]byte, error) {
		for _, img := range images {
			var err error
			if b, err = yamledit.SetImage(b, t.Resource.Kind, t.Object.GetNamespace(), t.Object.GetName(), img.Container, img.Image); err != nil {
				return nil, err
			}
		}
		return b, nil
	}, opts)
}

// commitFile edits one file with fn and commits it with message.
// commitRendered commits the file edits that t's renderer works out on the
// tree of the branch head (which it renders to check them).
func commitRendered(ctx context.Context, w Writer, t Target, message string, edits func(fs.FS) ([]manifests.FileEdit, error), opts gitwrite.PushOptions) (Result, error) {
	if t.Editor == nil {
		return Result{}, fmt.Errorf("edit: %s is rendered by %s, and this bosun cannot edit what renders it", t, t.RenderedBy)
	}
	sha, err := w.Commit(ctx, message, func(tree *gitwrite.Tree) error {
		list, err := edits(tree.FS())
		if err != nil {
			return fmt.Errorf("%s: %w", t.RenderedBy, err)
		}
		for _, e := range list {
			if err := tree.WriteFile(e.Path, e.Data); err != nil {
				return fmt.Errorf("%s: %w", e.Path, err)
			}
		}
		return nil
	}, opts)
	if err != nil {
		return Result{}, err
	}
	return Result{SHA: sha, Message: message}, nil
}

// id returns the object's manifests.ID.
func (t Target) id() manifests.ID {
	ns := t.Object.GetNamespace()
	if !t.Resource.Namespaced {
		ns = ""
	}
	return manifests.ID{Group: t.Resource.Group, Kind: t.Resource.Kind, Namespace: ns, Name: t.Object.GetName()}
}

func commitFile(ctx context.Context, w Writer, file, message string, fn func([]byte) ([]byte, error), opts gitwrite.PushOptions) (Result, error) {
	sha, err := w.Commit(ctx, message, func(t *gitwrite.Tree) error {
		data, err := t.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		out, err := fn(data)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		return t.WriteFile(file, out)
	}, opts)
	if err != nil {
		return Result{}, err
	}
	return Result{SHA: sha, Message: message}, nil
}

// LastTemplateChange returns the latest commit that changed the pod
// template (image, environment, ...) of Deployment t in t.File, which is
// the commit a rollback of t reverts. Commits that only scaled it or
// reformatted the file are skipped. When no commit did, the error wraps
// gitwrite.ErrNotFound.
func LastTemplateChange(ctx context.Context, w Writer, t Target) (gitwrite.Commit, error) {
	if _, ok := t.Object.(*appsv1.Deployment); !ok {
		return gitwrite.Commit{}, fmt.Errorf("edit: %s: only a Deployment has revisions to roll back, not %T", t, t.Object)
	}
	if t.RenderedBy != "" {
		return gitwrite.Commit{}, fmt.Errorf("edit: %s is rendered by %s, so its pod template's history is not one file's; roll back a commit by its SHA instead (bosun history lists them)", t, t.RenderedBy)
	}
	ns, name := t.Object.GetNamespace(), t.Object.GetName()
	c, err := w.LastCommitTouching(ctx, []string{t.File}, TemplateChanged(ns, name))
	if errors.Is(err, gitwrite.ErrNotFound) {
		return gitwrite.Commit{}, fmt.Errorf("edit: no commit in the history of %s changed the pod template of Deployment %s/%s; nothing to undo: %w", t.File, ns, name, err)
	}
	if err != nil {
		return gitwrite.Commit{}, fmt.Errorf("edit: find the last change of %s: %w", t, err)
	}
	return c, nil
}

// TemplateChanged returns a gitwrite.Writer.LastCommitTouching predicate:
// true for a change of a file that altered the pod template of Deployment
// namespace/name, which the file defines both before and after.
func TemplateChanged(namespace, name string) func(path string, before, after []byte) bool {
	find := func(path string, data []byte) *appsv1.Deployment {
		if data == nil {
			return nil
		}
		objs, _ := manifests.Decode(path, data, manifests.Limits{})
		for _, o := range objs {
			if d, ok := o.Obj.(*appsv1.Deployment); ok && d.Name == name && d.Namespace == namespace {
				return d
			}
		}
		return nil
	}
	return func(path string, before, after []byte) bool {
		a, b := find(path, before), find(path, after)
		return a != nil && b != nil && !apiequality.Semantic.DeepEqual(a.Spec.Template, b.Spec.Template)
	}
}
