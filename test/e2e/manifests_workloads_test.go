package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// manifestsDocsExamples are the Kubernetes documentation's examples of the
// workload kinds, as package manifests' tests keep them.
const manifestsDocsExamples = "../../manifests/testdata/k8s-docs"

// TestManifestsWorkloadKindsSync syncs the Kubernetes documentation's
// DaemonSet, Job, CronJob, StatefulSet, HPA, storage, quota and init
// container examples unchanged, prints them with kubectl's columns, and
// refuses a commit with a broken CronJob schedule, naming file and line.
func TestManifestsWorkloadKindsSync(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	r := newRepo(t)
	files, err := filepath.Glob(filepath.Join(manifestsDocsExamples, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", manifestsDocsExamples, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r.write(filepath.Join("apps", "k8s-docs", filepath.Base(f)), string(b))
	}
	sha := r.commitAll("Add the Kubernetes documentation's workload examples")
	// The fluentd DaemonSet mounts a hostPath, which the default baseline
	// level refuses (see README, Pod Security).
	s := startServer(t, r.dir, "--pod-security-default", "privileged")
	st := s.waitAttempt(sha, "applied")
	warned := false
	for _, p := range st.LastAttempt.Problems {
		if p.Warning && p.File == "apps/k8s-docs/statefulset.yaml" && p.Field == "spec.volumeClaimTemplates[0].spec.storageClassName" {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning about the StatefulSet's storage class in %+v", st.LastAttempt.Problems)
	}

	for _, c := range []struct{ resource, header, name string }{
		{"daemonsets -n kube-system", `NAME\s+DESIRED\s+CURRENT\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+NODE SELECTOR\s+AGE\s+COMMIT`, "fluentd-elasticsearch"},
		{"statefulsets", `NAME\s+READY\s+AGE\s+COMMIT`, "web"},
		{"jobs", `NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\s+COMMIT`, "pi"},
		{"cronjobs", `NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE\s+COMMIT`, "hello"},
		{"hpa", `NAME\s+REFERENCE\s+TARGETS\s+MINPODS\s+MAXPODS\s+REPLICAS\s+AGE\s+COMMIT`, "php-apache"},
		{"pvc", `NAME\s+STATUS\s+VOLUME\s+CAPACITY\s+ACCESS MODES\s+STORAGECLASS`, "task-pv-claim"},
		{"pv", `NAME\s+CAPACITY\s+ACCESS MODES\s+RECLAIM POLICY\s+STATUS\s+CLAIM`, "task-pv-volume"},
		{"resourcequotas", `NAME\s+AGE\s+REQUEST\s+LIMIT\s+COMMIT`, "mem-cpu-demo"},
		{"limitranges", `NAME\s+CREATED AT\s+COMMIT`, "cpu-resource-constraint"},
		{"serviceaccounts", `NAME\s+SECRETS\s+AGE\s+COMMIT`, "build-robot"},
	} {
		out, code := s.bosun(append([]string{"get"}, strings.Fields(c.resource)...)...)
		if code != 0 || !regexp.MustCompile(`(?m)^`+c.header).MatchString(out) || !regexp.MustCompile(`(?m)^`+c.name+`\s.*\s`+sha[:8]+`\b`).MatchString(out) {
			t.Errorf("bosun get %s (exit %d) lacks kubectl's columns or %s from commit %.8s:\n%s", c.resource, code, c.name, sha, out)
		}
	}

	r.replace("apps/k8s-docs/cronjob.yaml", `schedule: "* * * * *"`, `schedule: "CRON_TZ=Europe/Paris 0 6 * * *"`)
	bad := r.commitAll("hello: a time zone in the schedule")
	st = s.waitAttempt(bad, "rejected")
	found := false
	for _, p := range st.LastAttempt.Problems {
		if !p.Warning && p.File == "apps/k8s-docs/cronjob.yaml" && p.Line == 6 && p.Field == "spec.schedule" && strings.Contains(p.Message, "use timeZone field instead") {
			found = true
		}
	}
	if !found {
		t.Errorf("the rejected commit does not name apps/k8s-docs/cronjob.yaml:6 spec.schedule: %+v", st.LastAttempt.Problems)
	}
	out, err := exec.Command(bosunBin, "validate", r.dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "apps/k8s-docs/cronjob.yaml:6") {
		t.Errorf("bosun validate: %v, want exit status 1 naming apps/k8s-docs/cronjob.yaml:6:\n%s", err, out)
	}
}
