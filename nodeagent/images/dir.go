package images

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	client "github.com/containerd/containerd/v2/client"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// importFiles imports every image tarball in paths with Import, in order,
// and returns the names of the images imported. It stops at the first
// tarball that cannot be read or imported, naming it in the error.
func importFiles(ctx context.Context, c *client.Client, paths []string, logger *slog.Logger) ([]string, error) {
	defaults.Logger(&logger)
	var all []string
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return all, fmt.Errorf("images: %w", err)
		}
		names, err := Import(ctx, c, f)
		f.Close()
		if err != nil {
			return all, fmt.Errorf("images: %s: %w", path, err)
		}
		logger.Info("imported images", "file", path, "images", strings.Join(names, ","))
		all = append(all, names...)
	}
	return all, nil
}

// ImportDir imports every *.tar in dir, in name order, as k3s does with its
// agent/images directory: a way to ship images to a node without a
// registry. It returns the names of the images imported and stops at the
// first tarball that cannot be imported, naming it in the error. A missing
// or empty dir imports nothing.
func ImportDir(ctx context.Context, c *client.Client, dir string, logger *slog.Logger) ([]string, error) {
	tars, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		return nil, fmt.Errorf("images: %s: %w", dir, err)
	}
	sort.Strings(tars)
	return importFiles(ctx, c, tars, logger)
}
