package manifests

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode and Validate: they must not
// panic, and every problem must name its file.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata/bad", "testdata/good"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil && filepath.Ext(file) != ".golden" {
				f.Add(filepath.Ext(file) == ".json", data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, isJSON bool, data []byte) {
		name := "f.yaml"
		if isJSON {
			name = "f.json"
		}
		objs, ps := Decode(name, data, Limits{MaxFileBytes: 1 << 20, MaxDocuments: 100})
		ps = append(ps, Validate(objs)...)
		for _, p := range ps {
			if p.File != name {
				t.Fatalf("problem without file: %#v", p)
			}
		}
		for _, o := range objs {
			if o.Obj == nil || o.File != name {
				t.Fatalf("bad object: %#v", o)
			}
		}
	})
}
