// Package testenv decides whether end-to-end tests can run here, and skips
// or fails them with a message naming what is missing.
//
// End-to-end tests are required when the environment variable BOSUN_E2E is
// "required" (as .ci/run sets it) or CI is set: a missing dependency then
// fails the test. Otherwise the test is skipped with the reason, so that
// "go test ./..." works on a laptop without root or containerd.
//
//	func TestSomething(t *testing.T) {
//		testenv.E2E(t, testenv.Binary("git"))
//		...
//	}
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Requirement is something an end-to-end test needs; it returns nil when
// met, or an error saying what is missing and how to get it.
type Requirement func() error

// Binary requires a program on PATH.
func Binary(name string) Requirement {
	return func() error {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("%s is not installed (make deps installs it)", name)
		}
		return nil
	}
}

// Root requires running as root.
func Root() Requirement {
	return func() error {
		if os.Geteuid() != 0 {
			return fmt.Errorf("the test needs root")
		}
		return nil
	}
}

// Required reports whether end-to-end tests must run rather than skip.
func Required() bool {
	return os.Getenv("BOSUN_E2E") == "required" || os.Getenv("CI") != ""
}

// E2E marks t as an end-to-end test: it is skipped under -short, and when a
// requirement is not met it fails (when Required) or skips with the reason.
func E2E(t testing.TB, reqs ...Requirement) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	for _, r := range reqs {
		if err := r(); err != nil {
			if Required() {
				t.Fatalf("end-to-end test required (BOSUN_E2E=required or CI set) but cannot run: %v", err)
			}
			t.Skipf("end-to-end test skipped: %v (set BOSUN_E2E=required to make this a failure)", err)
		}
	}
}

// Need is E2E for unit tests that use a tool make deps installs (the git
// command line, say): they run under -short too, and a missing tool fails
// them when Required, else skips them with the reason.
func Need(t testing.TB, reqs ...Requirement) {
	t.Helper()
	for _, r := range reqs {
		if err := r(); err != nil {
			if Required() {
				t.Fatalf("test needs a tool that make deps installs (BOSUN_E2E=required or CI set): %v", err)
			}
			t.Skipf("test skipped: %v", err)
		}
	}
}
