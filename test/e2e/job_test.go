//go:build linux

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// TestJobRunsToCompletion runs a Job of three completions, two at a time,
// on a real node: each pod runs the example app's `write` command in a
// containerd container, which exits 0, and the Job completes with three
// Succeeded pods.
func TestJobRunsToCompletion(t *testing.T) {
	r := newRepo(t)
	r.write("jobs/writer.yaml", `apiVersion: batch/v1
kind: Job
metadata:
  name: writer
  namespace: demo
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: write
          image: bosun.local/hello:v1
          args: [write, /tmp/out, done]
`)
	r.commitAll("Add the writer Job")
	h := newNodeHost(t, r.dir)
	testutil.EventuallyEvery(t, 3*time.Minute, 500*time.Millisecond, "the Job to complete", func() (bool, string) {
		obj, err := h.client().Get(context.Background(), resource(t, "jobs"), "demo", "writer")
		if err != nil {
			return false, err.Error()
		}
		j := obj.(*batchv1.Job)
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				t.Fatalf("the Job failed: %s: %s", c.Reason, c.Message)
			}
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return j.Status.Succeeded == 3, fmt.Sprintf("complete with %d succeeded", j.Status.Succeeded)
			}
		}
		return false, fmt.Sprintf("active %d succeeded %d failed %d", j.Status.Active, j.Status.Succeeded, j.Status.Failed)
	})
	pods := h.pods("demo", batchv1.JobNameLabel+"=writer")
	if len(pods) != 3 {
		t.Fatalf("%d pods, want 3", len(pods))
	}
	for _, p := range pods {
		if p.Status.Phase != corev1.PodSucceeded || len(p.Status.ContainerStatuses) != 1 {
			t.Fatalf("pod %s: phase %s, statuses %+v; want Succeeded", p.Name, p.Status.Phase, p.Status.ContainerStatuses)
		}
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
			t.Errorf("pod %s: container state %+v, want terminated with 0 (Completed)", p.Name, p.Status.ContainerStatuses[0].State)
		}
	}
}
