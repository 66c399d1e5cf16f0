package job_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/hollow"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
	"github.com/bosun-dev/bosun/reconcile/controlplane"
	"github.com/bosun-dev/bosun/reconcile/job"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// cluster is a control plane (the built-in controllers plus the Job
// controller) on embedded etcd, the API server and hollow nodes.
type cluster struct {
	st *store.Store
	c  *client.Client
}

// startCluster runs it all until the test ends.
func startCluster(tb testing.TB, nodes int) *cluster {
	tb.Helper()
	st := storetest.Start(tb)
	ts := httptest.NewServer(apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(tb)}).Handler())
	tb.Cleanup(ts.Close) // last: Close waits for the agents' watches, which the cancel below ends
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		if err := controlplane.RunControllers(ctx, controlplane.Config{Store: st, Logger: storetest.Logger(tb)}); err != nil && ctx.Err() == nil {
			tb.Errorf("controllers: %v", err)
		}
	})
	c, err := client.New(ts.URL, client.WithHTTPClient(hollow.HTTPClient()))
	if err != nil {
		tb.Fatal(err)
	}
	wg.Go(func() {
		if err := hollow.Run(ctx, hollow.Config{Nodes: nodes, Client: c, StartDelay: 20 * time.Millisecond, Logger: storetest.Logger(tb)}); err != nil && ctx.Err() == nil {
			tb.Errorf("hollow.Run: %v", err)
		}
	})
	return &cluster{st: st, c: c}
}

// exitingJob is a Job whose containers exit with code after 50 ms on the
// fake runtime.
func exitingJob(name string, completions, parallelism int32, code int) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: batchv1.JobSpec{
			Completions: &completions,
			Parallelism: &parallelism,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "app", Image: "bosun.local/hello:v1", Env: []corev1.EnvVar{
					{Name: runtimetest.EnvExitAfter, Value: "50ms"},
					{Name: runtimetest.EnvExitCode, Value: fmt.Sprint(code)},
				}}},
			}},
		},
	}
}

// waitCondition polls the Job until it has condition ct True; it returns it.
func (cl *cluster) waitCondition(tb testing.TB, name string, ct batchv1.JobConditionType, timeout time.Duration) *batchv1.Job {
	tb.Helper()
	j := &batchv1.Job{}
	testutil.EventuallyEvery(tb, timeout, 100*time.Millisecond, "job "+name+" "+string(ct), func() (bool, string) {
		if err := cl.st.Get(context.Background(), "default", name, j); err != nil {
			return false, err.Error()
		}
		for _, c := range j.Status.Conditions {
			if c.Type == ct && c.Status == corev1.ConditionTrue {
				return true, ""
			}
		}
		return false, fmt.Sprintf("status %+v", j.Status)
	})
	return j
}

func mustResource(name string) api.Resource {
	r, ok := api.Lookup(name)
	if !ok {
		panic(name)
	}
	return r
}

// jobPods lists the pods of Job name.
func (cl *cluster) jobPods(tb testing.TB, name string) []*corev1.Pod {
	tb.Helper()
	objs, _, err := cl.st.List(context.Background(), mustResource("pods"), "default", store.ListOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []*corev1.Pod
	for _, o := range objs {
		if p := o.(*corev1.Pod); p.Labels[batchv1.JobNameLabel] == name {
			out = append(out, p)
		}
	}
	return out
}

func TestHollowJobCompletesWithParallelism(t *testing.T) {
	cl := startCluster(t, 3)
	if err := cl.st.Create(t.Context(), exitingJob("batch", 6, 3, 0)); err != nil {
		t.Fatal(err)
	}
	j := cl.waitCondition(t, "batch", batchv1.JobComplete, time.Minute)
	if j.Status.Succeeded != 6 || j.Status.Failed != 0 || j.Status.Active != 0 {
		t.Fatalf("status = %+v, want 6 succeeded", j.Status)
	}
	pods := cl.jobPods(t, "batch")
	if len(pods) != 6 {
		t.Fatalf("%d pods, want 6 (one per completion)", len(pods))
	}
	for _, p := range pods {
		if p.Status.Phase != corev1.PodSucceeded || p.Spec.NodeName == "" {
			t.Errorf("pod %s: phase %s on %q, want Succeeded on a hollow node", p.Name, p.Status.Phase, p.Spec.NodeName)
		}
	}
}

func TestHollowJobRetriesThenFails(t *testing.T) {
	cl := startCluster(t, 2)
	j := exitingJob("flaky", 1, 1, 3)
	j.Spec.BackoffLimit = ptr[int32](1)
	if err := cl.st.Create(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	j = cl.waitCondition(t, "flaky", batchv1.JobFailed, time.Minute)
	if j.Status.Failed != 2 {
		t.Errorf("failed = %d, want 2 (the pod and its one retry)", j.Status.Failed)
	}
	if took := time.Since(start); took < job.DefaultPodFailureBackoff {
		t.Errorf("failed after %v, want the retry after the %v backoff", took, job.DefaultPodFailureBackoff)
	}
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Reason != batchv1.JobReasonBackoffLimitExceeded {
			t.Errorf("Failed reason %s, want %s", c.Reason, batchv1.JobReasonBackoffLimitExceeded)
		}
	}
}

func TestHollowIndexedJob(t *testing.T) {
	cl := startCluster(t, 2)
	j := exitingJob("indexed", 4, 2, 0)
	mode := batchv1.IndexedCompletion
	j.Spec.CompletionMode = &mode
	if err := cl.st.Create(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	j = cl.waitCondition(t, "indexed", batchv1.JobComplete, time.Minute)
	if j.Status.CompletedIndexes != "0-3" {
		t.Errorf("completedIndexes %q, want 0-3", j.Status.CompletedIndexes)
	}
}

func TestHollowTTLDeletesJobAndPods(t *testing.T) {
	cl := startCluster(t, 2)
	j := exitingJob("shortlived", 2, 2, 0)
	j.Spec.TTLSecondsAfterFinished = ptr[int32](1)
	if err := cl.st.Create(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyEvery(t, time.Minute, 100*time.Millisecond, "the Job and its pods deleted after the TTL", func() (bool, string) {
		err := cl.st.Get(context.Background(), "default", "shortlived", &batchv1.Job{})
		pods := cl.jobPods(t, "shortlived")
		return err != nil && len(pods) == 0, fmt.Sprintf("job get: %v, %d pods", err, len(pods))
	})
}

func ptr[T any](v T) *T { return &v }

// BenchmarkJobVsReplicaSet runs, on 100 hollow nodes, a Job of 1,000
// completions with parallelism 50 (containers exit at once) and a
// ReplicaSet of 1,000 pods, and reports the Job's completions per second
// and the ReplicaSet's pods Running per second.
func BenchmarkJobVsReplicaSet(b *testing.B) {
	const n, par, nodes = 1000, 50, 100
	cl := startCluster(b, nodes)
	testutil.EventuallyEvery(b, 2*time.Minute, 200*time.Millisecond, "100 nodes Ready", func() (bool, string) {
		objs, _, err := cl.st.List(context.Background(), mustResource("nodes"), "", store.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ready := 0
		for _, o := range objs {
			for _, c := range o.(*corev1.Node).Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == nodes, fmt.Sprintf("%d ready", ready)
	})
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("bench-%d", i)
		j := exitingJob(name, n, par, 0)
		j.Spec.Template.Spec.Containers[0].Env[0].Value = "1ms"
		start := time.Now()
		if err := cl.st.Create(context.Background(), j); err != nil {
			b.Fatal(err)
		}
		cl.waitCondition(b, name, batchv1.JobComplete, 10*time.Minute)
		jobRate := float64(n) / time.Since(start).Seconds()

		rs := benchRS(name, n)
		start = time.Now()
		if err := cl.st.Create(context.Background(), rs); err != nil {
			b.Fatal(err)
		}
		testutil.EventuallyEvery(b, 10*time.Minute, 200*time.Millisecond, "1,000 pods Running", func() (bool, string) {
			running := 0
			for _, p := range cl.jobPods(b, "rs-"+name) {
				if p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
			return running == n, fmt.Sprintf("%d running", running)
		})
		rsRate := float64(n) / time.Since(start).Seconds()
		b.ReportMetric(jobRate, "completions/s")
		b.ReportMetric(rsRate, "rs-pods/s")
		b.ReportMetric(jobRate/rsRate, "job/rs")
		b.Logf("job: %.1f completions/s, replicaset: %.1f pods/s, ratio %.2f", jobRate, rsRate, jobRate/rsRate)
	}
}

// benchRS is a ReplicaSet of n pods that run until stopped; its pods carry
// the job-name label "rs-<name>" only so that jobPods finds them.
func benchRS(name string, n int32) *appsv1.ReplicaSet {
	lbls := map[string]string{batchv1.JobNameLabel: "rs-" + name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "rs-" + name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways,
					Containers: []corev1.Container{{Name: "app", Image: "bosun.local/hello:v1"}}},
			},
		},
	}
}
