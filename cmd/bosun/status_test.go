package main

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/apitest"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
)

func TestHistoryDeployCommand(t *testing.T) {
	now := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	st := storetest.StartAt(t, func() time.Time { return now })
	g := &globalOptions{server: apitest.Serve(t, st)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, a := range []state.Attempt{
		{Commit: state.CommitInfo{SHA: "aaaaaaaaaaaa", Subject: "web v1"}, Time: now.Add(-2 * time.Hour), Result: state.ResultApplied, Created: 2},
		{Commit: state.CommitInfo{SHA: "bbbbbbbbbbbb", Subject: "web v2"}, Time: now.Add(-time.Hour), Result: state.ResultApplied, Updated: 1},
		{Commit: state.CommitInfo{SHA: "cccccccccccc", Subject: "broken"}, Time: now.Add(-30 * time.Minute), Result: state.ResultRejected},
		{Commit: state.CommitInfo{SHA: "dddddddddddd", Subject: "Revert \"web v2\""}, Time: now.Add(-10 * time.Minute), Result: "rolled back", Message: "bosun reverted it"},
	} {
		if err := records.Append(ctx, st, a); err != nil {
			t.Fatal(err)
		}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Labels: map[string]string{api.LabelManagedBy: api.ManagedByValue},
			Annotations: map[string]string{"deployment.kubernetes.io/revision": "3"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	now = now.Add(-2*time.Hour + time.Second)
	if err := st.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	rs := func(name, image string, created time.Duration, ann map[string]string) {
		now = time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC).Add(created)
		var owners []metav1.OwnerReference
		if ann != nil {
			owners = []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}
		}
		r := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Annotations: ann, OwnerReferences: owners},
			Spec: appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}}}
		if err := st.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rs("web-v2", "hello:v2", -time.Hour+2*time.Second, map[string]string{"deployment.kubernetes.io/revision": "2"})
	rs("web-v1", "hello:v1", -2*time.Hour+2*time.Second, map[string]string{"deployment.kubernetes.io/revision": "3", "deployment.kubernetes.io/revision-history": "1"})
	rs("other", "x", 0, nil) // same namespace, not owned by the Deployment
	now = time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)

	out, code := diffTestRun(t, newHistoryCommand(g), "deploy/web", "-n", "shop")
	if code != 0 {
		t.Fatalf("exit code %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := [][]string{
		{"REVISION", "REPLICASET", "IMAGES", "CREATED", "COMMIT", "SUBJECT"},
		{"2", "web-v2", "hello:v2", "bbbbbbbb", "web v2"},
		{"3 (was 1) *", "web-v1", "hello:v1", "aaaaaaaa", "web v1"},
		{"* current revision"},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		for _, cell := range w {
			if !strings.Contains(lines[i], cell) {
				t.Errorf("line %d %q lacks %q", i, lines[i], cell)
			}
		}
	}
	if strings.Contains(out, "other") {
		t.Errorf("a ReplicaSet of no Deployment is listed:\n%s", out)
	}

	// Plain history shows the rolled back result verbatim.
	out, code = diffTestRun(t, newHistoryCommand(g))
	if code != 0 || !strings.Contains(out, "rolled back") || !strings.Contains(out, "bosun reverted it") {
		t.Errorf("history (exit %d) lacks the rolled back entry:\n%s", code, out)
	}

	for _, args := range [][]string{{"svc/web"}, {"web"}, {"deploy/missing", "-n", "shop"}} {
		if _, err := diffTestRunErr(newHistoryCommand(g), args...); err == nil {
			t.Errorf("history %v: no error", args)
		}
	}
}

// diffTestRunErr runs cmd and returns its output and error.
func diffTestRunErr(cmd interface {
	SetArgs([]string)
	ExecuteContext(context.Context) error
}, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd.SetArgs(args)
	return "", cmd.ExecuteContext(ctx)
}

func TestStatusWaitCommand(t *testing.T) {
	tests := []struct {
		name     string
		result   string
		done     bool
		args     []string
		wantCode int
		want     string
	}{
		{name: "rolled out", result: state.ResultApplied, done: true, wantCode: 0, want: "Rolled out: commit 12345678, 1 Deployments"},
		{name: "rejected", result: state.ResultRejected, done: true, wantCode: 1, want: "Rollout failed: the sync of commit 12345678 was rejected"},
		{name: "timeout", result: state.ResultApplied, args: []string{"--timeout", "200ms"}, wantCode: 2, want: "Rollout not finished: timed out after 200ms waiting for default/web: updated 0/1"},
		{name: "without --wait", result: state.ResultApplied, args: []string{}, wantCode: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, g := diffTestAPI(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			att := &state.Attempt{Commit: state.CommitInfo{SHA: "1234567890", Subject: "v1"}, Time: time.Now(), Result: tt.result}
			if err := records.SetStatus(ctx, st, state.Status{Repo: "/r", Synced: att, LastAttempt: att}); err != nil {
				t.Fatal(err)
			}
			d := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Labels: map[string]string{api.LabelManagedBy: api.ManagedByValue}},
				Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
			}
			if err := st.Create(ctx, d); err != nil {
				t.Fatal(err)
			}
			if tt.done {
				d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
				if err := st.Update(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			args := tt.args
			if args == nil {
				args = []string{"--wait"}
			} else if len(args) > 0 {
				args = append([]string{"--wait"}, args...)
			}
			out, code := diffTestRun(t, newStatusCommand(g), args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\n%s", code, tt.wantCode, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}
