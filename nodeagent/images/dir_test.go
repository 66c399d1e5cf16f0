package images

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/examples/app/appimage"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc/containerdproctest"
)

func TestImportDirWithoutTarballs(t *testing.T) {
	withOther := t.TempDir()
	if err := os.WriteFile(filepath.Join(withOther, "README"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  string
	}{
		{"missing directory", filepath.Join(t.TempDir(), "nope")},
		{"empty directory", t.TempDir()},
		{"no *.tar", withOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A nil client: nothing may be imported.
			names, err := ImportDir(t.Context(), nil, tt.dir, nil)
			if err != nil || len(names) != 0 {
				t.Errorf("ImportDir = %v, %v; want nothing", names, err)
			}
		})
	}
}

func TestImportDir(t *testing.T) {
	testenv.E2E(t, testenv.Root(), testenv.Binary("containerd"), testenv.Binary("go"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := containerdproctest.Start(t)
	dir := t.TempDir()
	if _, err := appimage.Build(ctx, dir); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, img := range appimage.Images() {
		want = append(want, img.Ref)
	}
	names, err := ImportDir(ctx, c, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("ImportDir = %v, want %v", names, want)
	}
	for _, ref := range want {
		if _, err := c.GetImage(ctx, ref); err != nil {
			t.Errorf("%s not in containerd after ImportDir: %v", ref, err)
		}
	}

	// A broken tarball stops the import and is named.
	bad := filepath.Join(dir, "0-broken.tar")
	if err := os.WriteFile(bad, []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportDir(ctx, c, dir, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("ImportDir with a broken tarball: err = %v, want one naming %s", err, bad)
	}
}
