package helm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"sigs.k8s.io/yaml"
)

// maxDownload bounds an index.yaml or chart archive download.
const maxDownload = 64 << 20

// repoIndex is the part of a chart repository's index.yaml bosun reads.
type repoIndex struct {
	Entries map[string][]struct {
		Version string   `json:"version"`
		URLs    []string `json:"urls"`
		Digest  string   `json:"digest"`
	} `json:"entries"`
}

// fetcher downloads charts from HTTP(S) chart repositories.
type fetcher struct {
	client   *http.Client
	cacheDir string
}

// fetch returns the chart name at the exact version from the repository
// at repoURL: index.yaml is read, the archive downloaded (or taken from
// the cache), its SHA-256 checked against the index's digest, and loaded.
func (f fetcher) fetch(ctx context.Context, repoURL, name, version string) (*chart.Chart, error) {
	c, err := f.fetchChecked(ctx, repoURL, name, version)
	if err != nil {
		return nil, fmt.Errorf("fetching chart %s %s from %s: %w; vendor it with `helm dependency build` and commit charts/, or give the server network access", name, version, repoURL, err)
	}
	return c, nil
}

func (f fetcher) fetchChecked(ctx context.Context, repoURL, name, version string) (*chart.Chart, error) {
	if !exactVersion.MatchString(version) {
		return nil, fmt.Errorf("version %q is not an exact version (ranges are refused so that a commit always renders the same)", version)
	}
	base, err := url.Parse(strings.TrimSuffix(repoURL, "/") + "/")
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("repository URL must be http:// or https://")
	}
	data, err := f.get(ctx, base.JoinPath("index.yaml").String())
	if err != nil {
		return nil, err
	}
	var idx repoIndex
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("reading index.yaml: %w", err)
	}
	for _, e := range idx.Entries[name] {
		if strings.TrimPrefix(e.Version, "v") != strings.TrimPrefix(version, "v") {
			continue
		}
		if len(e.URLs) == 0 {
			return nil, fmt.Errorf("index.yaml lists no URL for it")
		}
		if !validDigest.MatchString(e.Digest) {
			return nil, fmt.Errorf("index.yaml gives no SHA-256 digest for it (got %q)", e.Digest)
		}
		u, err := base.Parse(e.URLs[0])
		if err != nil {
			return nil, fmt.Errorf("index.yaml: URL %q: %w", e.URLs[0], err)
		}
		return f.archive(ctx, u.String(), name, version, strings.ToLower(e.Digest))
	}
	return nil, fmt.Errorf("index.yaml has no version %s of chart %s", version, name)
}

// validDigest matches a hex SHA-256.
var validDigest = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// archive returns the chart archive at u whose SHA-256 is digest, from the
// cache when there.
func (f fetcher) archive(ctx context.Context, u, name, version, digest string) (*chart.Chart, error) {
	var cached string
	if f.cacheDir != "" {
		cached = filepath.Join(f.cacheDir, fmt.Sprintf("%s-%s-%s.tgz", safeName(name), safeName(version), digest))
		if data, err := os.ReadFile(cached); err == nil && sha256Hex(data) == digest {
			return loadArchive(data, u)
		}
	}
	data, err := f.get(ctx, u)
	if err != nil {
		return nil, err
	}
	if got := sha256Hex(data); got != digest {
		return nil, fmt.Errorf("%s: digest mismatch: index.yaml says sha256 %s, the archive is %s", u, digest, got)
	}
	if cached != "" {
		if err := writeCache(cached, data); err != nil {
			return nil, err
		}
	}
	return loadArchive(data, u)
}

// loadArchive loads a chart archive downloaded from u.
func loadArchive(data []byte, u string) (*chart.Chart, error) {
	c, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", u, err)
	}
	return c, nil
}

// writeCache stores data at file atomically.
func writeCache(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("chart cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".fetch-*")
	if err != nil {
		return fmt.Errorf("chart cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("chart cache: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("chart cache: writing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("chart cache: %w", err)
	}
	return nil
}

// get downloads u with a deadline and a size bound.
func (f fetcher) get(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	client := f.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxDownload+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(data) > maxDownload {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", u, maxDownload)
	}
	return data, nil
}

// sha256Hex returns the hex SHA-256 of data.
func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// safeName keeps a cache file name to one path element.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, path.Clean(s))
}
