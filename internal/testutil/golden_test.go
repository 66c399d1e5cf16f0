package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordTB records Errorf and Fatalf; Fatalf ends its goroutine.
type recordTB struct {
	fatalTB
	errs []string
}

func (r *recordTB) Errorf(format string, args ...any) { r.errs = append(r.errs, format) }

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "testdata", "out.golden")
	check := func(got string, update bool) (fatal string, errs []string) {
		r := &recordTB{fatalTB: fatalTB{TB: t}}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Golden(r, path, []byte(got), update)
		}()
		<-done
		return r.msg, r.errs
	}
	if fatal, _ := check("one\n", false); !strings.Contains(fatal, "run go test -update to create it") {
		t.Errorf("missing file: %q", fatal)
	}
	if fatal, errs := check("one\n", true); fatal != "" || len(errs) != 0 {
		t.Fatalf("update: %q %q", fatal, errs)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "one\n" {
		t.Fatalf("written %q, %v", b, err)
	}
	if fatal, errs := check("one\n", false); fatal != "" || len(errs) != 0 {
		t.Errorf("same output: %q %q", fatal, errs)
	}
	if fatal, errs := check("two\n", false); fatal != "" || len(errs) != 1 || !strings.HasPrefix(errs[0], "output differs from") {
		t.Errorf("different output: %q %q", fatal, errs)
	}
}
