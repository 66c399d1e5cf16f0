package manifests

import (
	"os"
	"testing"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// TestKubernetesDocsExamples loads the Kubernetes documentation's examples
// of the workload kinds (testdata/k8s-docs) as written there: none may have
// an error, every kind must come out, and the warnings are those of
// testdata/k8s-docs.golden.
func TestKubernetesDocsExamples(t *testing.T) {
	res, err := Load(os.DirFS("testdata/k8s-docs"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if errs := res.Problems.Errors(); len(errs) > 0 {
		t.Errorf("the documentation's examples have errors:\n%s", errs)
	}
	kinds := map[string]int{}
	for _, o := range res.Objects {
		kinds[o.GVK().Kind]++
	}
	for _, k := range []string{"DaemonSet", "Job", "CronJob", "StatefulSet", "Service", "Deployment", "HorizontalPodAutoscaler",
		"ResourceQuota", "LimitRange", "Pod", "PersistentVolume", "PersistentVolumeClaim", "ServiceAccount"} {
		if kinds[k] == 0 {
			t.Errorf("no %s decoded from testdata/k8s-docs (got %v)", k, kinds)
		}
	}
	testutil.Golden(t, "testdata/k8s-docs.golden", []byte(res.Problems.String()+"\n"), *update)
}
