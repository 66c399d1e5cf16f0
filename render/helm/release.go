package helm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/yaml"

	"github.com/bosun-dev/bosun/manifests"
)

// release is one bosun-helm.yaml with its chart loaded and values read.
type release struct {
	cfg   *config
	chart *chart.Chart
	// src is where the root chart lives in the tree (zero when fetched).
	src source
	// layers are the values in increasing priority: the valueFiles, then
	// the inline values.
	layers []valuesLayer
	// encrypted is true when a values file used was encrypted.
	encrypted bool
}

// valuesLayer is one source of user values.
type valuesLayer struct {
	// file is the repository path of the values file, or the
	// bosun-helm.yaml for inline values.
	file string
	// inline marks the values: field of bosun-helm.yaml.
	inline    bool
	encrypted bool
	values    map[string]any
}

// object is a rendered object with what edits need to find it.
type object struct {
	manifests.Rendered
	id manifests.ID
	// doc is the object's decoded document.
	doc map[string]any
}

// renderRelease loads and renders the release of cfgFile. override, when
// not nil, is merged over every other value (used by edits).
func (r *Renderer) renderRelease(ctx context.Context, fsys fs.FS, cfgFile string, override map[string]any) ([]object, manifests.Problems, error) {
	rel, probs, err := r.loadRelease(ctx, fsys, cfgFile)
	if err != nil || rel == nil {
		return nil, probs, err
	}
	vals := map[string]any{}
	for _, l := range rel.layers {
		vals = loader.MergeMaps(vals, l.values)
	}
	if override != nil {
		vals = loader.MergeMaps(vals, override)
	}
	objs, ps := r.renderChart(ctx, fsys, rel, vals)
	return objs, append(probs, ps...), nil
}

// loadRelease reads cfgFile, its chart and values files. A nil release
// with problems means the release cannot be rendered; the error is for
// failures of fsys.
func (r *Renderer) loadRelease(ctx context.Context, fsys fs.FS, cfgFile string) (*release, manifests.Problems, error) {
	data, err := fs.ReadFile(fsys, cfgFile)
	if err != nil {
		return nil, nil, fmt.Errorf("helm: reading %s: %w", cfgFile, err)
	}
	cfg, probs := parseConfig(cfgFile, data)
	if cfg == nil {
		return nil, probs, nil
	}
	rel := &release{cfg: cfg}
	if cfg.repoURL != "" {
		rel.chart, err = r.fetch.fetch(ctx, cfg.repoURL, cfg.chart, cfg.version)
	} else {
		rel.chart, rel.src, err = loadChart(fsys, cfg.chartPath())
	}
	if err != nil {
		return nil, manifests.Problems{{File: cfgFile, Line: cfg.lines["chart"], Field: "chart", Message: err.Error()}}, nil
	}
	if p := r.resolveDependencies(ctx, fsys, rel, rel.chart, rel.src.dir); p != nil {
		return nil, manifests.Problems{*p}, nil
	}
	if ps := r.readValues(fsys, rel); len(ps) > 0 {
		return nil, ps, nil
	}
	return rel, nil, nil
}

// resolveDependencies adds to c every dependency its Chart.yaml declares
// that charts/ does not vendor: from a file:// path in the tree, or
// fetched from its chart repository. dir is c's directory in the tree ("" for
// an archive).
func (r *Renderer) resolveDependencies(ctx context.Context, fsys fs.FS, rel *release, c *chart.Chart, dir string) *manifests.Problem {
	have := map[string]bool{}
	for _, d := range c.Dependencies() {
		have[d.Name()] = true
	}
	where := rel.cfg.file
	if dir != "" {
		where = path.Join(dir, "Chart.yaml")
	}
	for _, dep := range c.Metadata.Dependencies {
		if have[dep.Name] {
			continue
		}
		sub, err := r.fetchDependency(ctx, fsys, dir, dep)
		if err != nil {
			return &manifests.Problem{File: where, Message: fmt.Sprintf("chart %s: dependency %s is not vendored in charts/: %v", c.Name(), dep.Name, err)}
		}
		c.AddDependency(sub)
		have[dep.Name] = true
	}
	for _, d := range c.Dependencies() {
		subdir := ""
		if dir != "" {
			if _, err := fs.Stat(fsys, path.Join(dir, "charts", d.Name(), "Chart.yaml")); err == nil {
				subdir = path.Join(dir, "charts", d.Name())
			}
		}
		if p := r.resolveDependencies(ctx, fsys, rel, d, subdir); p != nil {
			return p
		}
	}
	return nil
}

// fetchDependency loads a dependency that charts/ lacks.
func (r *Renderer) fetchDependency(ctx context.Context, fsys fs.FS, dir string, dep *chart.Dependency) (*chart.Chart, error) {
	repo := dep.Repository
	switch {
	case strings.HasPrefix(repo, "file://"):
		if dir == "" {
			return nil, fmt.Errorf("repository %s is relative to a chart archive", repo)
		}
		p := path.Clean(path.Join(dir, strings.TrimPrefix(repo, "file://")))
		if !fs.ValidPath(p) {
			return nil, fmt.Errorf("repository %s is outside the repository", repo)
		}
		c, _, err := loadChart(fsys, p)
		return c, err
	case strings.HasPrefix(repo, "oci://"):
		return nil, fmt.Errorf("repository %s: OCI registries are not supported; vendor it with `helm dependency build` and commit charts/", repo)
	case strings.HasPrefix(repo, "https://"), strings.HasPrefix(repo, "http://"):
		if !exactVersion.MatchString(dep.Version) {
			return nil, fmt.Errorf("version %q is a range: bosun fetches exact versions only (reproducibility); pin it, or vendor it with `helm dependency build` and commit charts/", dep.Version)
		}
		return r.fetch.fetch(ctx, repo, dep.Name, dep.Version)
	case repo == "":
		return nil, errors.New("no repository is given; vendor it with `helm dependency build` and commit charts/")
	default:
		return nil, fmt.Errorf("repository %q is not a URL (named repositories need `helm repo add`); use its URL or vendor it with `helm dependency build` and commit charts/", repo)
	}
}

// readValues reads the valueFiles (through the Decrypter) and the inline
// values.
func (r *Renderer) readValues(fsys fs.FS, rel *release) manifests.Problems {
	var probs manifests.Problems
	for _, f := range rel.cfg.valueFiles {
		p := path.Clean(path.Join(rel.cfg.dir, f))
		l, err := r.readValuesFile(fsys, p)
		if err != nil {
			probs = append(probs, manifests.Problem{File: rel.cfg.file, Line: rel.cfg.lines["valueFiles"], Field: "valueFiles", Message: err.Error()})
			continue
		}
		if l.file == "" {
			continue
		}
		rel.encrypted = rel.encrypted || l.encrypted
		rel.layers = append(rel.layers, l)
	}
	if rel.cfg.values != nil {
		rel.layers = append(rel.layers, valuesLayer{file: rel.cfg.file, inline: true, values: rel.cfg.values})
	}
	return probs
}

// readValuesFile reads one values file; a decryption or syntax error is
// returned with the file named (never with plaintext).
func (r *Renderer) readValuesFile(fsys fs.FS, p string) (valuesLayer, error) {
	if !fs.ValidPath(p) {
		return valuesLayer{}, fmt.Errorf("values file %s is outside the repository", p)
	}
	data, err := fs.ReadFile(fsys, p)
	if err != nil {
		return valuesLayer{}, fmt.Errorf("values file %s: %w", p, err)
	}
	l := valuesLayer{file: p}
	if r.opts.Decrypter != nil && r.opts.Decrypter.Encrypted(p, data) {
		data, err = r.opts.Decrypter.Decrypt(p, data)
		if err != nil {
			return valuesLayer{}, err
		}
		l.encrypted = true
	}
	if err := yaml.Unmarshal(data, &l.values); err != nil {
		return valuesLayer{}, fmt.Errorf("values file %s: %s", p, yamlErrorText(err, l.encrypted))
	}
	if l.values == nil {
		l.values = map[string]any{}
	}
	return l, nil
}

// yamlErrorText is a YAML error's text, reduced to its line for a
// decrypted file (the parser may quote content).
func yamlErrorText(err error, secret bool) string {
	if !secret {
		return err.Error()
	}
	if n := yamlErrLine(err); n > 0 {
		return fmt.Sprintf("not valid YAML at line %d", n)
	}
	return "not valid YAML"
}

// renderChart renders rel's chart with vals as `helm template` does.
func (r *Renderer) renderChart(ctx context.Context, fsys fs.FS, rel *release, vals map[string]any) ([]object, manifests.Problems) {
	cfgProblem := func(msg string) manifests.Problems {
		return manifests.Problems{{File: rel.cfg.file, Line: rel.cfg.lines["chart"], Message: msg}}
	}
	caps, err := r.capabilities()
	if err != nil {
		return nil, cfgProblem(err.Error())
	}
	c := rel.chart
	if c.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(c.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, cfgProblem(fmt.Sprintf("chart %s requires kubeVersion %s, incompatible with Kubernetes %s", c.Name(), c.Metadata.KubeVersion, caps.KubeVersion.Version))
	}
	if err := chartutil.ProcessDependencies(c, maps.Clone(vals)); err != nil {
		return nil, cfgProblem(fmt.Sprintf("chart %s: processing dependencies: %v", c.Name(), err))
	}
	opts := common.ReleaseOptions{Name: rel.cfg.releaseName, Namespace: rel.cfg.namespace, Revision: 1, IsInstall: true}
	top, err := util.ToRenderValues(c, vals, opts, caps)
	if err != nil {
		return nil, cfgProblem(fmt.Sprintf("chart %s: values: %v", c.Name(), err))
	}
	var probs manifests.Problems
	for _, crd := range c.CRDObjects() {
		probs = append(probs, manifests.Problem{File: rel.repoPath(fsys, crd.Filename), Message: "bosun serves no CustomResourceDefinitions: the chart's crds/ files cannot be applied; remove them from the chart (or .helmignore them)"})
	}
	files, err := engine.Engine{}.RenderWithContext(ctx, c, top)
	if err != nil {
		return nil, append(probs, rel.templateProblem(fsys, err))
	}
	objs, ps := rel.objects(fsys, files)
	return objs, append(probs, ps...)
}
