package helm

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/ignore"
)

// source is where a loaded chart (or subchart) lives in the repository.
type source struct {
	// dir is the chart's directory in the tree; "" when the chart came
	// from an archive.
	dir string
	// archive is the .tgz in the tree the chart came from, or "".
	archive string
}

// loadChart loads the chart at p (a directory with Chart.yaml, or a .tgz)
// from fsys as Helm's loader does, honouring the chart's .helmignore.
func loadChart(fsys fs.FS, p string) (*chart.Chart, source, error) {
	if strings.HasSuffix(p, ".tgz") {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, source{}, fmt.Errorf("reading chart archive %s: %w", p, err)
		}
		c, err := loader.LoadArchive(bytes.NewReader(data))
		if err != nil {
			return nil, source{}, fmt.Errorf("loading chart archive %s: %w", p, err)
		}
		return c, source{archive: p}, nil
	}
	if _, err := fs.Stat(fsys, path.Join(p, "Chart.yaml")); err != nil {
		return nil, source{}, fmt.Errorf("chart %s: no Chart.yaml: %w", p, err)
	}
	files, err := chartFiles(fsys, p)
	if err != nil {
		return nil, source{}, err
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, source{}, fmt.Errorf("loading chart %s: %w", p, err)
	}
	return c, source{dir: p}, nil
}

// chartFiles reads a chart directory's files the way Helm's directory
// loader does: paths relative to dir, .helmignore rules and Helm's
// defaults applied, a UTF-8 byte order mark removed.
func chartFiles(fsys fs.FS, dir string) ([]*archive.BufferedFile, error) {
	rules := ignore.Empty()
	if data, err := fs.ReadFile(fsys, path.Join(dir, ignore.HelmIgnore)); err == nil {
		r, err := ignore.Parse(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("chart %s: %s: %w", dir, ignore.HelmIgnore, err)
		}
		rules = r
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("chart %s: reading %s: %w", dir, ignore.HelmIgnore, err)
	}
	rules.AddDefaults()
	var files []*archive.BufferedFile
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel := strings.TrimPrefix(p, dir+"/")
		if dir == "." {
			rel = p
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if rules.Ignore(rel, fi) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("chart %s: %s is not a regular file", dir, rel)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, &archive.BufferedFile{Name: rel, Data: bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading chart %s: %w", dir, err)
	}
	return files, nil
}
