package fault

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
)

const (
	// killConfigMaps and killDeployments make a commit of ~250 objects:
	// a Namespace, the ConfigMaps and the Deployments.
	killConfigMaps  = 240
	killDeployments = 6
)

// killCommit returns a manifest file for one round: every ConfigMap holds
// version and every Deployment asks for replicas pods.
func killCommit(version string, replicas int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: fault\n")
	for i := range killConfigMaps {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%03d\n  namespace: fault\ndata:\n  version: %q\n", i, version)
	}
	for i := range killDeployments {
		fmt.Fprintf(&b, `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-%d
  namespace: fault
spec:
  replicas: %d
  selector:
    matchLabels: {app: web-%d}
  template:
    metadata:
      labels: {app: web-%d}
    spec:
      containers:
      - name: web
        image: bosun.local/hello:v1
`, i, replicas, i, i)
	}
	return b.String()
}

// ownerRef is the part of an owner reference the checks read.
type ownerRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// meta is the part of an object's metadata the checks read.
type meta struct {
	Name              string     `json:"name"`
	UID               string     `json:"uid"`
	OwnerReferences   []ownerRef `json:"ownerReferences"`
	DeletionTimestamp *string    `json:"deletionTimestamp"`
}

// liveObjects is what the checks read of the namespace fault.
type liveObjects struct {
	configMaps  map[string]string // name -> data.version
	deployments map[string]int    // name -> spec.replicas
	rsReplicas  map[string]int    // ReplicaSet UID -> spec.replicas
	rsOwner     map[string]string // ReplicaSet UID -> owning Deployment
	podsPerRS   map[string]int    // ReplicaSet UID -> pods not being deleted
	orphanPods  []string          // pods owned by no live ReplicaSet
}

// readLive lists the namespace fault through the API.
func readLive(s *server) liveObjects {
	s.t.Helper()
	var cms struct {
		Items []struct {
			Metadata meta              `json:"metadata"`
			Data     map[string]string `json:"data"`
		} `json:"items"`
	}
	var deps, rss struct {
		Items []struct {
			Metadata meta `json:"metadata"`
			Spec     struct {
				Replicas *int `json:"replicas"`
			} `json:"spec"`
		} `json:"items"`
	}
	var pods struct {
		Items []struct {
			Metadata meta `json:"metadata"`
		} `json:"items"`
	}
	s.getJSON("/api/v1/namespaces/fault/configmaps", &cms)
	s.getJSON("/apis/apps/v1/namespaces/fault/deployments", &deps)
	s.getJSON("/apis/apps/v1/namespaces/fault/replicasets", &rss)
	s.getJSON("/api/v1/namespaces/fault/pods", &pods)
	l := liveObjects{configMaps: map[string]string{}, deployments: map[string]int{},
		rsReplicas: map[string]int{}, rsOwner: map[string]string{}, podsPerRS: map[string]int{}}
	for _, c := range cms.Items {
		if strings.HasPrefix(c.Metadata.Name, "cm-") {
			l.configMaps[c.Metadata.Name] = c.Data["version"]
		}
	}
	for _, d := range deps.Items {
		l.deployments[d.Metadata.Name] = deref(d.Spec.Replicas)
	}
	for _, r := range rss.Items {
		l.rsReplicas[r.Metadata.UID] = deref(r.Spec.Replicas)
		for _, o := range r.Metadata.OwnerReferences {
			l.rsOwner[r.Metadata.UID] = o.Name
		}
	}
	for _, p := range pods.Items {
		if p.Metadata.DeletionTimestamp != nil {
			continue
		}
		owned := false
		for _, o := range p.Metadata.OwnerReferences {
			if _, ok := l.rsReplicas[o.UID]; ok && o.Kind == "ReplicaSet" {
				l.podsPerRS[o.UID]++
				owned = true
			}
		}
		if !owned {
			l.orphanPods = append(l.orphanPods, p.Metadata.Name)
		}
	}
	return l
}

func deref(p *int) int {
	if p == nil {
		return 1
	}
	return *p
}

// objectDiff compares the live ConfigMaps and Deployments with the commit
// of version and replicas: it returns how many objects are missing, how
// many hold another version, and how many are extra.
func (l liveObjects) objectDiff(version string, replicas int) (lost, stale, extra int) {
	for i := range killConfigMaps {
		v, ok := l.configMaps[fmt.Sprintf("cm-%03d", i)]
		switch {
		case !ok:
			lost++
		case v != version:
			stale++
		}
	}
	for i := range killDeployments {
		r, ok := l.deployments[fmt.Sprintf("web-%d", i)]
		switch {
		case !ok:
			lost++
		case r != replicas:
			stale++
		}
	}
	extra = len(l.configMaps) + len(l.deployments) - killConfigMaps - killDeployments + lost
	return lost, stale, extra
}

// podProblem says what is wrong with the pods, or "" once every ReplicaSet
// owns exactly its replicas, every Deployment's pods add up to replicas
// and no pod is orphaned.
func (l liveObjects) podProblem(replicas int) string {
	var probs []string
	perDeployment := map[string]int{}
	for uid, want := range l.rsReplicas {
		if got := l.podsPerRS[uid]; got != want {
			probs = append(probs, fmt.Sprintf("ReplicaSet of %s owns %d pods, wants %d", l.rsOwner[uid], got, want))
		}
		perDeployment[l.rsOwner[uid]] += l.podsPerRS[uid]
	}
	for i := range killDeployments {
		name := fmt.Sprintf("web-%d", i)
		if got := perDeployment[name]; got != replicas {
			probs = append(probs, fmt.Sprintf("%s has %d pods, wants %d", name, got, replicas))
		}
	}
	if len(l.orphanPods) > 0 {
		probs = append(probs, fmt.Sprintf("orphaned pods %v", l.orphanPods))
	}
	sort.Strings(probs)
	return strings.Join(probs, "; ")
}

// TestKillServerDuringSync kills `bosun server` (SIGKILL) at random moments
// of the sync of a ~250-object commit, SOAK_ROUNDS times (default 50),
// with two hollow nodes running the pods. Each round commits a new version
// (ConfigMap data every round, Deployment replicas between 2 and 3 every
// tenth round, so most restarts find the pods converged and must not
// create or lose any), kills the server at a random moment of the sync
// (timed from the commit, or from the log's "syncing commit" line), and
// restarts it on the same data directory. After each restart it checks
// that the commit is applied, the live objects equal it (no object lost,
// stale or extra), every ReplicaSet owns exactly its replicas with no
// orphaned pod, and every history entry recorded before the kill is still
// there.
func TestKillServerDuringSync(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	rounds := testutil.EnvInt("SOAK_ROUNDS", 50)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (kill moments), %d rounds", seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 0))

	r := newRepo(t, "fault.yaml", killCommit("v0", 1))
	s := startServer(t, r.dir)
	startHollow(t, s.url, 2)
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied", 60*time.Second)
	r.write("fault.yaml", killCommit("v1", 2))
	start := time.Now()
	s.waitAttempt(r.commitAll("v1"), "applied", 60*time.Second)
	took := time.Since(start)
	t.Logf("a commit of %d objects takes %v from commit to applied", killConfigMaps+killDeployments+1, took)

	phases := map[string]int{}
	var lost, stale, extra, podFaults int
	var worstConverge, roundTime time.Duration
	for i := range rounds {
		version, replicas := fmt.Sprintf("v%d", i+2), 2+(i/10)%2
		roundStart := time.Now()
		before := s.history()
		r.write("fault.yaml", killCommit(version, replicas))
		sha := r.commitAll(version)
		// Even rounds time the kill from the commit (0 to 1.3 times the
		// measured sync), odd ones from the "syncing commit" log line (0
		// to half of it), so that many kills land inside the sync however
		// the machine's load shifts the timing.
		from := "commit"
		delay := time.Duration(rng.Float64() * 1.3 * float64(took))
		if i%2 == 1 {
			from = "sync start"
			delay = time.Duration(rng.Float64() * 0.5 * float64(took))
			if !pollEvery(30*time.Second, 2*time.Millisecond, func() bool { return testutil.SyncPhase(s.log.String(), sha) != "before" }) {
				t.Fatalf("round %d: no \"syncing commit\" line for %.8s in 30s", i, sha)
			}
		}
		time.Sleep(delay) // the moment of the crash is the test's input
		s.kill()
		phase := testutil.SyncPhase(s.log.String(), sha)
		phases[phase]++

		s.start()
		s.waitAttempt(sha, "applied", 60*time.Second)
		l := readLive(s)
		lo, st, ex := l.objectDiff(version, replicas)
		lost, stale, extra = lost+lo, stale+st, extra+ex
		if lo+st+ex > 0 {
			t.Errorf("round %d (kill %v after the %s, %s the sync): %d objects lost, %d stale, %d extra", i, delay, from, phase, lo, st, ex)
		}
		if missing := missingEntries(before, s.history()); len(missing) > 0 {
			t.Errorf("round %d: history entries lost by the kill: %v", i, missing)
		}
		convergeStart := time.Now()
		var problem string
		converged := pollFor(30*time.Second, func() bool {
			problem = readLive(s).podProblem(replicas)
			return problem == ""
		})
		if !converged {
			podFaults++
			t.Errorf("round %d: pods did not converge within 30s: %s", i, problem)
		}
		worstConverge = max(worstConverge, time.Since(convergeStart))
		roundTime += time.Since(roundStart)
		if t.Failed() {
			t.FailNow()
		}
	}
	if rounds >= 10 && phases["inside"] == 0 {
		t.Errorf("no kill of %d landed inside a sync (between \"syncing commit\" and \"applied commit\"): %v", rounds, phases)
	}
	t.Logf("RESULT kill-server rounds=%d kills-before-sync=%d kills-inside-sync=%d kills-after-sync=%d objects-lost=%d stale=%d extra=%d pod-faults=%d recovered=%d worst-pod-convergence=%v mean-round=%v",
		rounds, phases["before"], phases["inside"], phases["after"], lost, stale, extra, podFaults, rounds-podFaults,
		worstConverge.Round(time.Millisecond), (roundTime / time.Duration(rounds)).Round(time.Millisecond))
}

// missingEntries returns the history entries of before (commit and result)
// that after lacks.
func missingEntries(before, after []attempt) []string {
	have := map[string]int{}
	for _, a := range after {
		have[a.Commit.SHA[:8]+" "+a.Result]++
	}
	var missing []string
	for _, b := range before {
		k := b.Commit.SHA[:8] + " " + b.Result
		if have[k] == 0 {
			missing = append(missing, k)
			continue
		}
		have[k]--
	}
	return missing
}

// pollFor polls cond every 50ms until it holds or timeout passes, and
// reports whether it held.
func pollFor(timeout time.Duration, cond func() bool) bool {
	return pollEvery(timeout, 50*time.Millisecond, cond)
}

// pollEvery polls cond every interval until it holds or timeout passes,
// and reports whether it held.
func pollEvery(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
