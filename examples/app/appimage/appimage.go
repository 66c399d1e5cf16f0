package appimage

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Package is the import path of the example app that Build compiles.
const Package = "github.com/bosun-dev/bosun/examples/app"

// Annotation keys that name an image in an OCI layout index.
const (
	AnnotationRefName        = "org.opencontainers.image.ref.name"
	AnnotationContainerdName = "io.containerd.image.name"
)

// Image describes one image tarball.
type Image struct {
	// File is the tarball's name in the output directory.
	File string
	// Ref is the image name, e.g. "bosun.local/hello:v1".
	Ref string
	// Version is baked into the binary (-X main.version).
	Version string
	// Env is added to the image config after PATH.
	Env []string
}

// Images returns the images Build writes: hello:v1, hello:v2 and
// hello:broken (the v1 binary with CRASH_AFTER=0, so it exits 1 at start).
func Images() []Image {
	return []Image{
		{File: "hello-v1.tar", Ref: "bosun.local/hello:v1", Version: "v1"},
		{File: "hello-v2.tar", Ref: "bosun.local/hello:v2", Version: "v2"},
		{File: "hello-broken.tar", Ref: "bosun.local/hello:broken", Version: "v1", Env: []string{"CRASH_AFTER=0"}},
	}
}

// Build compiles the example app and writes Images() into outDir (created
// if missing). It returns the paths written, in the order of Images().
func Build(ctx context.Context, outDir string) ([]string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("appimage: %w", err)
	}
	work, err := os.MkdirTemp("", "bosun-appimage-")
	if err != nil {
		return nil, fmt.Errorf("appimage: %w", err)
	}
	defer os.RemoveAll(work)
	binaries := map[string][]byte{}
	var paths []string
	for _, img := range Images() {
		bin, ok := binaries[img.Version]
		if !ok {
			out := filepath.Join(work, "app-"+img.Version)
			if err := BuildBinary(ctx, img.Version, out); err != nil {
				return nil, err
			}
			if bin, err = os.ReadFile(out); err != nil {
				return nil, fmt.Errorf("appimage: %w", err)
			}
			binaries[img.Version] = bin
		}
		p := filepath.Join(outDir, img.File)
		if err := WriteFile(p, bin, img); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// BuildBinary compiles examples/app as a static linux/amd64 binary at out,
// with version baked in.
func BuildBinary(ctx context.Context, version, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+version, "-o", out, Package)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("appimage: go build %s: %w: %s", Package, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// WriteFile writes img, whose only layer holds binary at /app, as an OCI
// image layout tarball at path (replaced atomically).
func WriteFile(path string, binary []byte, img Image) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".appimage-")
	if err != nil {
		return fmt.Errorf("appimage: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := writeLayout(dir, binary, img); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "image.tar")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("appimage: %w", err)
	}
	if err := tarDir(f, filepath.Join(dir, "layout")); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("appimage: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("appimage: %w", err)
	}
	return nil
}

// NewImage returns img as an OCI image whose only layer holds binary at
// /app (and an empty /tmp), for writers other than WriteFile (e.g. a
// `docker save`-style tarball with go-containerregistry's tarball package).
func NewImage(binary []byte, img Image) (v1.Image, error) {
	layerTar, err := rootfs(binary)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("appimage: layer: %w", err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	image, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("appimage: %w", err)
	}
	cf, err := image.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("appimage: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = "amd64"
	cf.Config.Entrypoint = []string{"/app"}
	cf.Config.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, img.Env...)
	cf.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.version": img.Version}
	if image, err = mutate.ConfigFile(image, cf); err != nil {
		return nil, fmt.Errorf("appimage: %w", err)
	}
	return image, nil
}

// writeLayout writes the OCI image layout of img into dir/layout.
func writeLayout(dir string, binary []byte, img Image) error {
	image, err := NewImage(binary, img)
	if err != nil {
		return err
	}
	p, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		return fmt.Errorf("appimage: layout: %w", err)
	}
	err = p.AppendImage(image,
		layout.WithAnnotations(map[string]string{AnnotationRefName: img.Ref, AnnotationContainerdName: img.Ref}),
		layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		return fmt.Errorf("appimage: layout: %w", err)
	}
	return nil
}

// epoch is the modification time of every file in the images, so that the
// same binary always gives the same image digest.
var epoch = time.Unix(0, 0).UTC()

// rootfs returns the uncompressed layer: /app (the binary) and /tmp.
func rootfs(binary []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdrs := []struct {
		hdr  tar.Header
		body []byte
	}{
		{tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil},
		{tar.Header{Name: "app", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(binary))}, binary},
	}
	for _, h := range hdrs {
		h.hdr.ModTime = epoch
		h.hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h.hdr); err != nil {
			return nil, fmt.Errorf("appimage: layer: %w", err)
		}
		if _, err := tw.Write(h.body); err != nil {
			return nil, fmt.Errorf("appimage: layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("appimage: layer: %w", err)
	}
	return buf.Bytes(), nil
}

// tarDir writes the files under root into w as a tar, with relative names in
// lexical order and fixed times.
func tarDir(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("appimage: tar %s: %w", root, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("appimage: tar: %w", err)
	}
	return nil
}
