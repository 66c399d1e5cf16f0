package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/bosun-dev/bosun/manifests"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fakeDecrypter treats files starting with "#ENC\n" as encrypted; their
// plaintext is the rest. A file starting with "#ENC-BAD\n" fails.
type fakeDecrypter struct{}

func (fakeDecrypter) Encrypted(_ string, data []byte) bool {
	return bytes.HasPrefix(data, []byte("#ENC"))
}

func (fakeDecrypter) Decrypt(file string, data []byte) ([]byte, error) {
	if bytes.HasPrefix(data, []byte("#ENC-BAD\n")) {
		return nil, fmt.Errorf("sops: %s: MAC mismatch: %w", file, manifests.ErrNoKey)
	}
	return bytes.TrimPrefix(data, []byte("#ENC\n")), nil
}

// repoFS reads testdata/repo into a MapFS that cases then change.
func repoFS(t testing.TB) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	root := filepath.Join("testdata", "repo")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m[filepath.ToSlash(rel)] = &fstest.MapFile{Data: data}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// packDir replaces the directory dir of m by a .tgz at tgz holding it
// under top/, as `helm package` lays it out.
func packDir(t testing.TB, m fstest.MapFS, dir, top, tgz string) {
	t.Helper()
	m[tgz] = &fstest.MapFile{Data: tarGz(t, m, dir, top)}
	for p := range m {
		if strings.HasPrefix(p, dir+"/") {
			delete(m, p)
		}
	}
}

// tarGz packs the files of m under dir into a gzipped tar under top/.
func tarGz(t testing.TB, m fstest.MapFS, dir, top string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, p := range sortedKeys(m) {
		if !strings.HasPrefix(p, dir+"/") {
			continue
		}
		data := m[p].Data
		hdr := &tar.Header{Name: path.Join(top, strings.TrimPrefix(p, dir+"/")), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sortedKeys(m fstest.MapFS) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// dump formats objects and problems for golden files.
func dump(objs []manifests.Rendered, probs manifests.Problems) string {
	var b strings.Builder
	for _, o := range objs {
		fmt.Fprintf(&b, "# file=%s line=%d renderedBy=%s encrypted=%t\n%s---\n", o.File, o.Line, o.RenderedBy, o.Encrypted, o.Data)
	}
	for _, p := range probs {
		fmt.Fprintf(&b, "# problem: %s\n", p)
	}
	return b.String()
}

// render runs the Renderer the way manifests.Load does: Claim on each
// directory, then Render of the claimed ones.
func render(t testing.TB, r *Renderer, fsys fs.FS) ([]manifests.Rendered, manifests.Problems) {
	t.Helper()
	var dirs []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		entries, err := fs.ReadDir(fsys, p)
		if err != nil {
			return err
		}
		switch r.Claim(fsys, p, entries) {
		case manifests.ClaimRender:
			dirs = append(dirs, p)
			return fs.SkipDir
		case manifests.ClaimSkip:
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	objs, probs, err := r.Render(fsys, dirs)
	if err != nil {
		t.Fatal(err)
	}
	return objs, probs
}

// TestRenderGolden renders the guestbook chart (a vendored dependency, two
// values files, inline values) in several layouts and compares with golden
// files.
func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		change func(t testing.TB, m fstest.MapFS)
	}{
		{name: "vendored directory dependency", golden: "guestbook.golden"},
		{name: "vendored .tgz dependency", golden: "guestbook-tgz.golden", change: func(t testing.TB, m fstest.MapFS) {
			packDir(t, m, "charts/guestbook/charts/cache", "cache", "charts/guestbook/charts/cache-2.1.0.tgz")
		}},
		{name: "packaged chart", golden: "guestbook-packaged.golden", change: func(t testing.TB, m fstest.MapFS) {
			// helm package leaves out what .helmignore lists.
			delete(m, "charts/guestbook/templates/draft-broken.yaml")
			delete(m, "charts/guestbook/AUTHORS.md")
			packDir(t, m, "charts/guestbook", "guestbook", "charts/guestbook-0.3.0.tgz")
			m["apps/guestbook/bosun-helm.yaml"].Data = bytes.Replace(m["apps/guestbook/bosun-helm.yaml"].Data,
				[]byte("charts/guestbook\n"), []byte("charts/guestbook-0.3.0.tgz\n"), 1)
		}},
		{name: "condition disables the dependency", golden: "guestbook-nocache.golden", change: func(t testing.TB, m fstest.MapFS) {
			m["apps/guestbook/values.yaml"].Data = append(m["apps/guestbook/values.yaml"].Data, "cache:\n  enabled: false\n"...)
		}},
		{name: "encrypted values file", golden: "guestbook-encrypted.golden", change: func(t testing.TB, m fstest.MapFS) {
			m["apps/guestbook/values-prod.yaml"].Data = append([]byte("#ENC\n"), m["apps/guestbook/values-prod.yaml"].Data...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := repoFS(t)
			if tt.change != nil {
				tt.change(t, m)
			}
			r := New(Options{Decrypter: fakeDecrypter{}})
			objs, probs := render(t, r, m)
			got := dump(objs, probs)
			again, probs2 := render(t, r, m)
			if d := cmp.Diff(got, dump(again, probs2)); d != "" {
				t.Fatalf("second render differs (-first +second):\n%s", d)
			}
			golden := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(want), got); d != "" {
				t.Errorf("render differs from %s (-want +got):\n%s", golden, d)
			}
		})
	}
}

// chartFS is a one-chart repository: the chart at charts/app with the
// given extra files, rendered by apps/app/bosun-helm.yaml.
func chartFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{
		"charts/app/Chart.yaml":            {Data: []byte("apiVersion: v2\nname: app\nversion: 1.0.0\n")},
		"charts/app/values.yaml":           {Data: []byte("replicaCount: 1\n")},
		"apps/app/bosun-helm.yaml":         {Data: []byte("apiVersion: bosun.dev/v1alpha1\nkind: HelmChart\nchart: ../../charts/app\n")},
		"charts/app/templates/config.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: \"1\"\n")},
	}
	for p, d := range files {
		if d == "" {
			delete(m, p)
			continue
		}
		m[p] = &fstest.MapFile{Data: []byte(d)}
	}
	return m
}

// TestRenderProblems checks that bad input becomes problems naming the
// file, line and cause.
func TestRenderProblems(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		wantFile string
		wantLine int
		want     []string
	}{
		{
			name:     "template error with file and line",
			files:    map[string]string{"charts/app/templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name | nosuchfunc }}\n"},
			wantFile: "charts/app/templates/config.yaml", wantLine: 4,
			want: []string{"nosuchfunc"},
		},
		{
			name:     "execution error in a subchart template",
			files:    map[string]string{"charts/app/charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n", "charts/app/charts/sub/templates/x.yaml": "\n\n{{ required \"sub needs .Values.size\" .Values.size }}\n"},
			wantFile: "charts/app/charts/sub/templates/x.yaml", wantLine: 3,
			want: []string{"sub needs .Values.size"},
		},
		{
			name:     "unknown key in bosun-helm.yaml",
			files:    map[string]string{"apps/app/bosun-helm.yaml": "apiVersion: bosun.dev/v1alpha1\nkind: HelmChart\nchart: ../../charts/app\nvalueFile: values.yaml\n"},
			wantFile: "apps/app/bosun-helm.yaml", wantLine: 4,
			want: []string{`unknown field "valueFile"`, "valueFiles", "releaseName", "repoURL"},
		},
		{
			name:     "wrong kind",
			files:    map[string]string{"apps/app/bosun-helm.yaml": "apiVersion: bosun.dev/v1alpha1\nkind: HelmRelease\nchart: ../../charts/app\n"},
			wantFile: "apps/app/bosun-helm.yaml", wantLine: 2,
			want: []string{"must be HelmChart"},
		},
		{
			name:     "missing dependency, fetch fails",
			files:    map[string]string{"charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 1.2.3\n  repository: http://127.0.0.1:1/charts\n"},
			wantFile: "charts/app/Chart.yaml",
			want:     []string{"fetching chart redis 1.2.3 from http://127.0.0.1:1/charts", "helm dependency build", "commit charts/", "network access"},
		},
		{
			name:     "dependency version range refused",
			files:    map[string]string{"charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: ~1.2.0\n  repository: https://charts.example.invalid\n"},
			wantFile: "charts/app/Chart.yaml",
			want:     []string{`"~1.2.0" is a range`, "exact versions only"},
		},
		{
			name:     "chart version range refused",
			files:    map[string]string{"apps/app/bosun-helm.yaml": "apiVersion: bosun.dev/v1alpha1\nkind: HelmChart\nchart: app\nrepoURL: https://charts.example.invalid\nversion: \">=1.0.0\"\n"},
			wantFile: "apps/app/bosun-helm.yaml", wantLine: 5,
			want: []string{"not an exact version"},
		},
		{
			name:     "OCI dependency refused",
			files:    map[string]string{"charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 1.2.3\n  repository: oci://registry.example.invalid/charts\n"},
			wantFile: "charts/app/Chart.yaml",
			want:     []string{"OCI registries are not supported"},
		},
		{
			name:     "CRDs refused",
			files:    map[string]string{"charts/app/crds/widgets.yaml": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n"},
			wantFile: "charts/app/crds/widgets.yaml",
			want:     []string{"no CustomResourceDefinitions"},
		},
		{
			name:     "values file that does not decrypt",
			files:    map[string]string{"apps/app/bosun-helm.yaml": "apiVersion: bosun.dev/v1alpha1\nkind: HelmChart\nchart: ../../charts/app\nvalueFiles: [secrets.yaml]\n", "apps/app/secrets.yaml": "#ENC-BAD\npassword: hunter2\n"},
			wantFile: "apps/app/bosun-helm.yaml", wantLine: 4,
			want: []string{"MAC mismatch", "apps/app/secrets.yaml"},
		},
		{
			name:     "missing chart",
			files:    map[string]string{"apps/app/bosun-helm.yaml": "apiVersion: bosun.dev/v1alpha1\nkind: HelmChart\nchart: ../../charts/nope\n"},
			wantFile: "apps/app/bosun-helm.yaml", wantLine: 3,
			want: []string{"charts/nope", "no Chart.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(Options{Decrypter: fakeDecrypter{}})
			_, probs := render(t, r, chartFS(tt.files))
			errs := probs.Errors()
			if len(errs) != 1 {
				t.Fatalf("want one error, got %d: %v", len(errs), probs)
			}
			p := errs[0]
			if p.File != tt.wantFile || p.Line != tt.wantLine {
				t.Errorf("problem at %s:%d, want %s:%d: %s", p.File, p.Line, tt.wantFile, tt.wantLine, p)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.String(), w) {
					t.Errorf("problem %q does not say %q", p, w)
				}
			}
			if strings.Contains(p.String(), "hunter2") {
				t.Errorf("problem %q leaks a secret", p)
			}
		})
	}
}

// TestDocumentLines checks Rendered.Line: the line of the object's
// document in its template when documents correspond one to one, else 0.
func TestDocumentLines(t *testing.T) {
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
	}
	tests := []struct {
		name     string
		template string
		want     []int
	}{
		{name: "one document", template: cm("a"), want: []int{1}},
		{name: "documents after separators", template: "# two maps\n" + cm("a") + "---\n" + cm("b") + "--- # third\n" + cm("c"), want: []int{1, 7, 12}},
		{name: "documents from a range", template: "{{- range list \"a\" \"b\" }}\n---\n" + cm("{{ . }}") + "{{- end }}\n", want: []int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := chartFS(map[string]string{"charts/app/templates/config.yaml": tt.template})
			objs, probs := render(t, New(Options{}), fsys)
			if len(probs) != 0 {
				t.Fatal(probs)
			}
			var got []int
			for _, o := range objs {
				got = append(got, o.Line)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("lines (-want +got):\n%s", d)
			}
		})
	}
}
