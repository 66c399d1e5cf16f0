package appimage

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// untar extracts the tarball at path into dir.
func untar(t *testing.T, path, dir string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, hdr.Name)
		if hdr.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		b, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteFile(t *testing.T) {
	binary := []byte("not really a binary")
	for _, img := range Images() {
		t.Run(img.Ref, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, img.File)
			if err := WriteFile(p, binary, img); err != nil {
				t.Fatal(err)
			}
			first, _ := os.ReadFile(p)
			if err := WriteFile(p, binary, img); err != nil {
				t.Fatal(err)
			}
			second, _ := os.ReadFile(p)
			if !bytes.Equal(first, second) {
				t.Fatal("two builds of the same image differ")
			}

			out := filepath.Join(dir, "out")
			untar(t, p, out)
			idx, err := layout.ImageIndexFromPath(out)
			if err != nil {
				t.Fatal(err)
			}
			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Manifests) != 1 {
				t.Fatalf("%d manifests, want 1", len(im.Manifests))
			}
			d := im.Manifests[0]
			if d.Annotations[AnnotationRefName] != img.Ref || d.Annotations[AnnotationContainerdName] != img.Ref {
				t.Fatalf("annotations %v, want the name %s", d.Annotations, img.Ref)
			}
			image, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := image.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != "linux" || cf.Architecture != "amd64" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/app" {
				t.Fatalf("config os=%q arch=%q entrypoint=%v", cf.OS, cf.Architecture, cf.Config.Entrypoint)
			}
			if _, ok := cf.Config.ExposedPorts["8080/tcp"]; !ok {
				t.Fatalf("8080/tcp not exposed: %v", cf.Config.ExposedPorts)
			}
			wantEnv := len(img.Env) + 1
			if len(cf.Config.Env) != wantEnv {
				t.Fatalf("env %v, want PATH and %v", cf.Config.Env, img.Env)
			}
			layers, err := image.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("layers %d, %v", len(layers), err)
			}
			rc, err := layers[0].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			tr := tar.NewReader(rc)
			files := map[string][]byte{}
			for {
				hdr, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(tr)
				files[hdr.Name] = b
				if hdr.Name == "app" && hdr.Mode&0o111 == 0 {
					t.Fatalf("/app mode %o is not executable", hdr.Mode)
				}
			}
			if !bytes.Equal(files["app"], binary) {
				t.Fatalf("/app holds %q", files["app"])
			}
			if _, ok := files["tmp/"]; !ok {
				t.Fatalf("no /tmp in the layer: %v", files)
			}
		})
	}
}
