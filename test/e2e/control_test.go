package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// crashingEnv makes the hello container crash-loop on hollow nodes.
const crashingEnv = `          image: bosun.local/hello:v1
          env:
            - name: BOSUN_FAKE_EXIT_AFTER
              value: 100ms
            - name: BOSUN_FAKE_EXIT_CODE
              value: "1"
`

// TestLatestCommitWins: a commit whose pods crash-loop (its progress
// deadline far off) is superseded at once by the next commit, whose pods
// roll out, and automatic rollback reverts nothing; a rejected commit
// does not hold back the valid one after it.
func TestLatestCommitWins(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	r := newRepo(t)
	s := startServer(t, r.dir, "--auto-rollback")
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied")
	startHollow(t, s.url, 2, "hollow-")
	s.waitNodesReady(2)
	s.waitAvailable("demo", "hello", 3)

	r.replace("apps/hello/deployment.yaml", "          image: bosun.local/hello:v1\n", crashingEnv)
	bad := r.commitAll("hello crashes")
	s.waitAttempt(bad, "applied")
	testutil.Eventually(t, 60*time.Second, "the new pods crash-looping", func() (bool, string) {
		for _, p := range s.pods("demo", "app=hello") {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.RestartCount > 0 || (cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff") {
					return true, ""
				}
			}
		}
		return false, "no restarts yet"
	})

	// An invalid commit, then the fix: the fix is applied at once.
	r.replace("apps/hello/deployment.yaml", crashingEnv, "          image: bosun.local/hello:v2\n          imagePullPolicy: Sometimes\n")
	broken := r.commitAll("hello v2, with a typo")
	s.waitAttempt(broken, "rejected")
	r.replace("apps/hello/deployment.yaml", "          imagePullPolicy: Sometimes\n", "")
	good := r.commitAll("hello v2")
	s.waitAttempt(good, "applied")
	s.waitAvailable("demo", "hello", 3)
	for _, p := range s.pods("demo", "app=hello") {
		if img := p.Spec.Containers[0].Image; img != "bosun.local/hello:v2" && p.DeletionTimestamp == nil {
			t.Errorf("pod %s runs %s after the fix", p.Name, img)
		}
	}
	// Automatic rollback had a failing rollout in front of it: it must not
	// have reverted the superseded commit.
	time.Sleep(2 * time.Second) // the controller's next look; nothing must happen in it
	if log := r.git("log", "--format=%s"); strings.Contains(log, "Revert") {
		t.Errorf("a commit was reverted although a newer one superseded it:\n%s", log)
	}
}

// TestFreezeThroughTheCLI: bosun freeze holds commits back (bosun status
// says why), bosun unfreeze applies the newest; suspend/resume likewise,
// recorded in the history.
func TestFreezeThroughTheCLI(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	r := newRepo(t)
	s := startServer(t, r.dir)
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied")
	if out, code := s.bosun("freeze", "--until", "1h", "--reason", "release week"); code != 0 || !strings.Contains(out, "Frozen:") ||
		!strings.Contains(out, "release week") {
		t.Fatalf("bosun freeze: exit %d\n%s", code, out)
	}
	r.replace("apps/hello/deployment.yaml", "replicas: 3", "replicas: 4")
	four := r.commitAll("four")
	st := s.waitAttempt(four, "waiting")
	if !strings.Contains(st.LastAttempt.Message, "frozen until") {
		t.Errorf("waiting message %q", st.LastAttempt.Message)
	}
	r.replace("apps/hello/deployment.yaml", "replicas: 4", "replicas: 5")
	five := r.commitAll("five")
	s.waitAttempt(five, "waiting")
	if out, code := s.bosun("status"); code != 0 || !strings.Contains(out, "is waiting: frozen until") {
		t.Errorf("bosun status while frozen: exit %d\n%s", code, out)
	}
	if out, code := s.bosun("unfreeze"); code != 0 {
		t.Fatalf("bosun unfreeze: exit %d\n%s", code, out)
	}
	s.waitAttempt(five, "applied")

	if out, code := s.bosun("suspend", "--reason", "incident 42"); code != 0 || !strings.Contains(out, "Suspended:") {
		t.Fatalf("bosun suspend: exit %d\n%s", code, out)
	}
	r.replace("apps/hello/deployment.yaml", "replicas: 5", "replicas: 2")
	two := r.commitAll("two")
	s.waitAttempt(two, "waiting")
	if out, code := s.bosun("resume"); code != 0 {
		t.Fatalf("bosun resume: exit %d\n%s", code, out)
	}
	s.waitAttempt(two, "applied")
	out, _ := s.bosun("history")
	for _, want := range []string{"suspended by", "incident 42", "resumed by", "unfrozen by", "frozen until"} {
		if !strings.Contains(out, want) {
			t.Errorf("bosun history lacks %q:\n%s", want, out)
		}
	}
	if out, code := s.bosun("unfreeze"); code == 0 || !strings.Contains(out, "not frozen") {
		t.Errorf("unfreeze when not frozen: exit %d\n%s", code, out)
	}
}
