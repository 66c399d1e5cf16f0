package helm

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/bosun-dev/bosun/manifests"
)

// ConfigFile is the name of the file that makes a directory a Helm release.
const ConfigFile = "bosun-helm.yaml"

// configKeys are the fields of bosun-helm.yaml, in the order problems list them.
var configKeys = []string{"apiVersion", "kind", "chart", "repoURL", "version", "releaseName", "namespace", "valueFiles", "values"}

// config is a decoded bosun-helm.yaml.
type config struct {
	// file is the slash path of the bosun-helm.yaml; dir its directory.
	file, dir string
	// raw is the file's content (for edits of the inline values).
	raw []byte

	chart, repoURL, version string
	releaseName, namespace  string
	valueFiles              []string
	values                  map[string]any

	// lines of each key, for problems.
	lines map[string]int
}

// exactVersion matches a semantic version without ranges or wildcards.
var exactVersion = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// parseConfig decodes a bosun-helm.yaml strictly: unknown keys and wrong
// types are problems naming the file, line and field.
func parseConfig(file string, data []byte) (*config, manifests.Problems) {
	c := &config{file: file, dir: path.Dir(file), raw: data, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, manifests.Problems{{File: file, Line: yamlErrLine(err), Message: "reading " + ConfigFile + ": " + err.Error()}}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, manifests.Problems{{File: file, Line: 1, Message: ConfigFile + " must be a mapping with the fields " + strings.Join(configKeys, ", ")}}
	}
	var probs manifests.Problems
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		c.lines[k.Value] = k.Line
		if err := c.setField(k.Value, v); err != nil {
			probs = append(probs, manifests.Problem{File: file, Line: k.Line, Field: k.Value, Message: err.Error()})
		}
	}
	probs = append(probs, c.check()...)
	if len(probs) > 0 {
		return nil, probs
	}
	return c, nil
}

// setField decodes one top-level field of bosun-helm.yaml.
func (c *config) setField(key string, v *yaml.Node) error {
	str := map[string]*string{"apiVersion": nil, "kind": nil, "chart": &c.chart, "repoURL": &c.repoURL,
		"version": &c.version, "releaseName": &c.releaseName, "namespace": &c.namespace}
	var apiVersion, kind string
	str["apiVersion"], str["kind"] = &apiVersion, &kind
	if dst, ok := str[key]; ok {
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("must be a string")
		}
		*dst = v.Value
		switch {
		case key == "apiVersion" && apiVersion != "bosun.dev/v1alpha1":
			return fmt.Errorf("must be bosun.dev/v1alpha1, not %q", apiVersion)
		case key == "kind" && kind != "HelmChart":
			return fmt.Errorf("must be HelmChart, not %q", kind)
		}
		return nil
	}
	switch key {
	case "valueFiles":
		if err := v.Decode(&c.valueFiles); err != nil {
			return fmt.Errorf("must be a list of file paths: %w", err)
		}
	case "values":
		if v.Kind != yaml.MappingNode {
			return fmt.Errorf("must be a mapping of values")
		}
		if err := v.Decode(&c.values); err != nil {
			return fmt.Errorf("decoding values: %w", err)
		}
	default:
		return fmt.Errorf("unknown field %q; the accepted fields are %s", key, strings.Join(configKeys, ", "))
	}
	return nil
}

// check verifies the fields together and fills defaults.
func (c *config) check() manifests.Problems {
	var probs manifests.Problems
	bad := func(field, msg string) {
		probs = append(probs, manifests.Problem{File: c.file, Line: c.lines[field], Field: field, Message: msg})
	}
	for _, k := range []string{"apiVersion", "kind", "chart"} {
		if _, ok := c.lines[k]; !ok {
			bad(k, "required field is missing")
		}
	}
	switch {
	case strings.HasPrefix(c.repoURL, "oci://") || strings.HasPrefix(c.chart, "oci://"):
		bad("repoURL", "OCI registries are not supported; use an HTTP(S) chart repository, or vendor the chart into the repository")
	case c.repoURL != "" && !strings.HasPrefix(c.repoURL, "https://") && !strings.HasPrefix(c.repoURL, "http://"):
		bad("repoURL", "must be an http:// or https:// chart repository URL")
	case c.repoURL != "" && !exactVersion.MatchString(c.version):
		bad("version", fmt.Sprintf("%q is not an exact version: a chart from a repository needs one (ranges are refused so that a commit always renders the same)", c.version))
	case c.repoURL == "" && c.version != "":
		bad("version", "only used with repoURL (a chart in the repository has the version its Chart.yaml says)")
	}
	if c.releaseName == "" {
		c.releaseName = path.Base(c.dir)
		if c.dir == "." {
			bad("releaseName", "required when "+ConfigFile+" is at the root of the repository")
		}
	}
	if c.namespace == "" {
		c.namespace = "default"
	}
	return probs
}

// chartDir returns the repository path of a chart given by path.
func (c *config) chartPath() string {
	return path.Clean(path.Join(c.dir, c.chart))
}

// yamlErrLine extracts "line N" from a YAML error message; 0 when absent.
func yamlErrLine(err error) int {
	var n int
	if i := strings.Index(err.Error(), "line "); i >= 0 {
		_, _ = fmt.Sscanf(err.Error()[i:], "line %d", &n)
	}
	return n
}
