package helm

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-dev/bosun/manifests"
)

// DefaultKubeVersion is the Kubernetes version charts see in
// .Capabilities.KubeVersion when Options.KubeVersion is empty: the
// version bosun's API reports (apiserver.KubernetesVersion).
const DefaultKubeVersion = "v1.37.2"

// Options configures a Renderer.
type Options struct {
	// Decrypter decrypts values files encrypted with SOPS; nil reads
	// every file as plain text.
	Decrypter manifests.Decrypter
	// CacheDir keeps charts downloaded from chart repositories, one file
	// per name, version and digest; "" downloads them every time.
	CacheDir string
	// HTTPClient fetches from chart repositories; nil uses
	// http.DefaultClient.
	HTTPClient *http.Client
	// KubeVersion is .Capabilities.KubeVersion ("v1.37.2"); "" means
	// DefaultKubeVersion.
	KubeVersion string
}

// Renderer renders directories holding a bosun-helm.yaml. It implements
// manifests.Renderer and manifests.RenderedEditor. It is safe for
// concurrent use.
type Renderer struct {
	opts  Options
	fetch fetcher
}

var (
	_ manifests.Renderer       = (*Renderer)(nil)
	_ manifests.RenderedEditor = (*Renderer)(nil)
)

// New returns a Renderer with the given options.
func New(opts Options) *Renderer {
	if opts.KubeVersion == "" {
		opts.KubeVersion = DefaultKubeVersion
	}
	return &Renderer{opts: opts, fetch: fetcher{client: opts.HTTPClient, cacheDir: opts.CacheDir}}
}

// Name returns "helm".
func (r *Renderer) Name() string { return "helm" }

// Claim renders a directory holding bosun-helm.yaml and skips a chart's
// own directory (one holding Chart.yaml): its templates are not YAML.
func (r *Renderer) Claim(_ fs.FS, _ string, entries []fs.DirEntry) manifests.Claim {
	claim := manifests.ClaimNone
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch e.Name() {
		case ConfigFile:
			return manifests.ClaimRender
		case "Chart.yaml":
			claim = manifests.ClaimSkip
		}
	}
	return claim
}

// Render renders each directory's bosun-helm.yaml. Every directory is a
// root: releases do not include one another.
func (r *Renderer) Render(fsys fs.FS, dirs []string) ([]manifests.Rendered, manifests.Problems, error) {
	var out []manifests.Rendered
	var probs manifests.Problems
	for _, dir := range dirs {
		objs, ps, err := r.renderRelease(context.Background(), fsys, path.Join(dir, ConfigFile), nil)
		if err != nil {
			return nil, nil, err
		}
		probs = append(probs, ps...)
		for _, o := range objs {
			out = append(out, o.Rendered)
		}
	}
	return out, probs, nil
}

// capabilities returns what charts see as .Capabilities: the configured
// Kubernetes version and the API versions and kinds bosun serves.
func (r *Renderer) capabilities() (*common.Capabilities, error) {
	kv, err := common.ParseKubeVersion(r.opts.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("helm: kube version %q: %w", r.opts.KubeVersion, err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	var vs common.VersionSet
	for _, gvk := range manifests.Supported() {
		gv := gvk.GroupVersion().String()
		if !slices.Contains(vs, gv) {
			vs = append(vs, gv)
		}
		vs = append(vs, gv+"/"+gvk.Kind)
	}
	caps.APIVersions = vs
	return caps, nil
}

// objectID names a rendered object as manifests.ID does.
func objectID(apiVersion, kind, namespace, name string) manifests.ID {
	group := ""
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	return manifests.ID{Group: group, Kind: kind, Namespace: namespace, Name: name}
}

// schemaGVK builds a GroupVersionKind.
func schemaGVK(group, version, kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
}
