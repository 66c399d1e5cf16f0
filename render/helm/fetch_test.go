package helm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
)

// chartRepo serves index.yaml and the cache chart's archive on loopback,
// counting archive downloads. digest overrides the index's digest when
// not "".
func chartRepo(t *testing.T, digest string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	m := repoFS(t)
	tgz := tarGz(t, m, "charts/guestbook/charts/cache", "cache")
	if digest == "" {
		sum := sha256.Sum256(tgz)
		digest = hex.EncodeToString(sum[:])
	}
	var downloads atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/stable/index.yaml", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "apiVersion: v1\nentries:\n  cache:\n  - name: cache\n    version: 2.0.0\n    urls: [cache-2.0.0.tgz]\n    digest: %s\n  - name: cache\n    version: 2.1.0\n    urls: [archives/cache-2.1.0.tgz]\n    digest: %s\n", strings.Repeat("0", 64), digest)
	})
	mux.HandleFunc("/stable/archives/cache-2.1.0.tgz", func(w http.ResponseWriter, _ *http.Request) {
		downloads.Add(1)
		_, _ = w.Write(tgz)
	})
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv, &downloads
}

// fetchFS is the guestbook repository without the vendored dependency,
// whose Chart.yaml points at repoURL.
func fetchFS(t *testing.T, repoURL string) fstest.MapFS {
	m := repoFS(t)
	for p := range m {
		if strings.HasPrefix(p, "charts/guestbook/charts/") {
			delete(m, p)
		}
	}
	f := m["charts/guestbook/Chart.yaml"]
	f.Data = []byte(strings.Replace(string(f.Data), "https://charts.example.invalid/stable", repoURL, 1))
	return m
}

// TestFetchDependency renders a chart whose dependency is not vendored
// from a chart repository on loopback: the exact version's archive is
// downloaded, its digest checked, and cached.
func TestFetchDependency(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "guestbook-fetched.golden"))
	if err != nil && !*update {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		digest        string
		cache         bool
		wantDownloads int32
		wantProblem   string
	}{
		{name: "no cache downloads every render", wantDownloads: 2},
		{name: "cache downloads once", cache: true, wantDownloads: 1},
		{name: "digest mismatch", digest: strings.Repeat("ab", 32), wantDownloads: 2, wantProblem: "digest mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, downloads := chartRepo(t, tt.digest)
			opts := Options{HTTPClient: srv.Client()}
			if tt.cache {
				opts.CacheDir = t.TempDir()
			}
			r := New(opts)
			fsys := fetchFS(t, srv.URL+"/stable")
			for range 2 {
				objs, probs := render(t, r, fsys)
				if tt.wantProblem != "" {
					if len(probs.Errors()) != 1 || !strings.Contains(probs.Errors()[0].String(), tt.wantProblem) || !strings.Contains(probs.Errors()[0].String(), "fetching chart cache 2.1.0 from "+srv.URL) {
						t.Fatalf("want one problem saying %q, got %v", tt.wantProblem, probs)
					}
					continue
				}
				got := dump(objs, probs)
				if *update {
					if err := os.WriteFile(filepath.Join("testdata", "guestbook-fetched.golden"), []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					want = []byte(got)
				}
				if got != string(want) {
					t.Fatalf("fetched render differs from testdata/guestbook-fetched.golden:\n%s", got)
				}
			}
			if n := downloads.Load(); n != tt.wantDownloads {
				t.Errorf("archive downloaded %d times, want %d", n, tt.wantDownloads)
			}
			if tt.cache {
				entries, _ := os.ReadDir(opts.CacheDir)
				if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "cache-2.1.0-") {
					t.Errorf("cache holds %v, want one cache-2.1.0-DIGEST.tgz", entries)
				}
			}
		})
	}
}

// TestFetchChart renders a bosun-helm.yaml naming a chart in a chart
// repository (repoURL and an exact version).
func TestFetchChart(t *testing.T) {
	srv, downloads := chartRepo(t, "")
	fsys := fstest.MapFS{
		"apps/cache/bosun-helm.yaml": {Data: []byte(fmt.Sprintf("apiVersion: bosun.dev/v1alpha1\nkind: HelmChart\nchart: cache\nrepoURL: %s/stable\nversion: 2.1.0\nvalues:\n  global:\n    cacheMemory: 1gb\n", srv.URL))},
	}
	objs, probs := render(t, New(Options{HTTPClient: srv.Client()}), fsys)
	if len(probs) != 0 || len(objs) != 1 {
		t.Fatalf("want one object and no problems, got %d objects, %v", len(objs), probs)
	}
	o := objs[0]
	if o.File != "apps/cache/bosun-helm.yaml" || !strings.Contains(string(o.Data), "name: cache-cache") || !strings.Contains(string(o.Data), `"1gb"`) {
		t.Errorf("unexpected object from %s:\n%s", o.File, o.Data)
	}
	if downloads.Load() != 1 {
		t.Errorf("downloads = %d, want 1", downloads.Load())
	}
}
