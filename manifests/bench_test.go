package manifests

import (
	"fmt"
	"testing"
	"testing/fstest"
)

// tree1000 builds 500 Deployments and 500 Services in 500 files.
func tree1000() fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i < 500; i++ {
		name := fmt.Sprintf("app-%d", i)
		fsys[fmt.Sprintf("apps/%s.yaml", name)] = &fstest.MapFile{Data: []byte(fmt.Sprintf(deploymentYAML, name) + "---\n" + fmt.Sprintf(serviceYAML, name))}
	}
	return fsys
}

func TestLoad1000(t *testing.T) {
	res, err := Load(tree1000(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1000 || len(res.Problems) != 0 {
		t.Fatalf("objects=%d problems:\n%s", len(res.Objects), res.Problems)
	}
}

// BenchmarkLoad1000 decodes and validates 1,000 typical manifests.
func BenchmarkLoad1000(b *testing.B) {
	fsys := tree1000()
	b.ReportAllocs()
	for b.Loop() {
		res, err := Load(fsys, Options{})
		if err != nil || len(res.Objects) != 1000 {
			b.Fatal(err)
		}
	}
}
