package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/apitest"
	"github.com/bosun-dev/bosun/store/storetest"
)

func TestDescribeCommand(t *testing.T) {
	st := storetest.Start(t)
	g := &globalOptions{server: apitest.Serve(t, st)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "big", Labels: map[string]string{"app": "big"},
			Annotations: map[string]string{api.AnnotationSource: "apps/big.yaml:3", api.AnnotationCommit: "0123456789abcdef"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/3 nodes are available: 3 Insufficient cpu."}}},
	}
	if err := st.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	for _, ev := range []*corev1.Event{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "big.1"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "demo", Name: "big", UID: pod.UID},
			Type:           corev1.EventTypeWarning, Reason: "FailedScheduling", Message: "0/3 nodes are available: 3 Insufficient cpu.",
			Source: corev1.EventSource{Component: "default-scheduler"}, Count: 4,
			FirstTimestamp: metav1.NewTime(now.Add(-time.Minute)), LastTimestamp: now},
		// Same name, an earlier pod (another uid): not this one's.
		{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "big.0"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "demo", Name: "big", UID: "an-old-uid"},
			Type:           corev1.EventTypeNormal, Reason: "Started", Message: "the old pod's Event", LastTimestamp: now},
	} {
		if err := st.Create(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	out, code := diffTestRun(t, newDescribeCommand(g), "pod/big", "-n", "demo")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	rest := out
	for _, want := range []string{
		"Name:", "big", "Namespace:", "demo", "Kind:", "Pod (v1)", "Labels:", "app=big",
		"Source:", "apps/big.yaml:3 (commit 01234567)", "Status:", "Pending",
		"Conditions:", "PodScheduled", "False", "Unschedulable", "0/3 nodes are available",
		"Events:", "TYPE", "REASON", "AGE", "FROM", "MESSAGE",
		"Warning", "FailedScheduling", "(x4 over 60s)", "default-scheduler", "0/3 nodes are available: 3 Insufficient cpu.",
	} {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Fatalf("%q missing (in order) from:\n%s", want, out)
		}
		rest = rest[i+len(want):]
	}
	if strings.Contains(out, "old pod") {
		t.Errorf("describe shows an Event of an earlier pod of the same name:\n%s", out)
	}
	for _, args := range [][]string{{"pod"}, {"nosuchkind", "x"}, {"pod/missing", "-n", "demo"}, {"pod/a", "b"}} {
		if _, err := diffTestRunErr(newDescribeCommand(g), args...); err == nil {
			t.Errorf("describe %v: no error", args)
		}
	}
}
