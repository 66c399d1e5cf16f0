package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// TestAllowEmptyThroughServer commits the removal of every manifest to a
// running server: without --allow-empty the commit is refused and the
// objects keep running; with it the commit is applied and prunes them, as
// the README says.
func TestAllowEmptyThroughServer(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	tests := []struct {
		name        string
		extra       []string
		wantResult  string
		wantMessage string // substring of the attempt's message
		wantStatus  int    // of GET demo/hello Deployment afterwards
	}{
		{"refused without the flag", nil, "rejected", "--allow-empty", http.StatusOK},
		{"pruned with --allow-empty", []string{"--allow-empty"}, "applied", "", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			s := startServer(t, r.dir, tc.extra...)
			s.waitAttempt(r.git("rev-parse", "HEAD"), "applied")
			var d object
			if code := s.getJSON("/apis/apps/v1/namespaces/demo/deployments/hello", &d); code != http.StatusOK {
				t.Fatalf("GET deployment demo/hello before the empty commit: %d", code)
			}

			r.git("rm", "-rq", ".")
			st := s.waitAttempt(r.commitAll("Remove every manifest"), tc.wantResult)
			if !strings.Contains(st.LastAttempt.Message, tc.wantMessage) {
				t.Errorf("attempt message %q does not contain %q", st.LastAttempt.Message, tc.wantMessage)
			}
			if code := s.getJSON("/apis/apps/v1/namespaces/demo/deployments/hello", &d); code != tc.wantStatus {
				t.Errorf("GET deployment demo/hello after the empty commit: %d, want %d", code, tc.wantStatus)
			}
			var svcs struct{ Items []object }
			s.getJSON("/api/v1/namespaces/demo/services", &svcs)
			if wantSvcs := map[int]int{http.StatusOK: 2, http.StatusNotFound: 0}[tc.wantStatus]; len(svcs.Items) != wantSvcs {
				t.Errorf("%d Services in demo after the empty commit, want %d", len(svcs.Items), wantSvcs)
			}
		})
	}
}
