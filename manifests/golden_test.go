package manifests

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bosun-dev/bosun/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/bad")

// TestBadGolden loads each testdata/bad file as a tree of its own and
// compares all problems with the file's .golden twin.
func TestBadGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") {
			continue
		}
		n++
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Load(fstest.MapFS{name: {Data: data}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Problems) == 0 {
				t.Fatalf("no problems reported for %s", name)
			}
			if strings.HasPrefix(name, "warn-") {
				if errs := res.Problems.Errors(); len(errs) > 0 {
					t.Errorf("warning case has errors:\n%s", errs)
				}
			} else if len(res.Problems.Errors()) == 0 {
				t.Errorf("bad case has no errors:\n%s", res.Problems)
			}
			for _, p := range res.Problems {
				if p.File != name || p.Line <= 0 || p.Message == "" {
					t.Errorf("problem without file, line or message: %#v", p)
				}
			}
			got := res.Problems.String() + "\n"
			golden := strings.TrimSuffix(f, filepath.Ext(f)) + ".golden"
			testutil.Golden(t, golden, []byte(got), *update)
		})
	}
	if n < 30 {
		t.Errorf("only %d bad cases, want at least 30", n)
	}
}

// TestGoodFiles checks that every testdata/good file loads without any
// problem, warnings included.
func TestGoodFiles(t *testing.T) {
	res, err := Load(os.DirFS("testdata/good"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) > 0 {
		t.Errorf("problems in testdata/good:\n%s", res.Problems)
	}
	if len(res.Objects) < 8 {
		t.Errorf("got %d objects from testdata/good, want at least 8 (one of each kind)", len(res.Objects))
	}
}
