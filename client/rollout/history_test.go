package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/rollout"
	"github.com/bosun-dev/bosun/sync/state"
)

func TestCommitAt(t *testing.T) {
	base := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	at := func(sha string, d time.Duration, result string, updated int) state.Attempt {
		return state.Attempt{Commit: state.CommitInfo{SHA: sha}, Time: base.Add(d), Result: result, Updated: updated}
	}
	// Newest first, as the API returns it.
	hist := []state.Attempt{
		at("e", 10*time.Minute, state.ResultApplied, 1),
		at("d", 5*time.Minute, state.ResultRejected, 0),
		at("c", 4*time.Minute, state.ResultApplied, 0), // no changes
		at("b", 2*time.Minute+300*time.Millisecond, state.ResultApplied, 2),
		at("a", 0, state.ResultApplied, 3),
	}
	tests := []struct {
		name    string
		created time.Duration
		want    string // "" = none
	}{
		{name: "before any commit", created: -time.Second, want: ""},
		{name: "same second as the first commit", created: 0, want: "a"},
		{name: "between commits", created: time.Minute, want: "a"},
		{name: "within the second of a commit (whole-second timestamp)", created: 2 * time.Minute, want: "b"},
		{name: "skips rejected and unchanged attempts", created: 6 * time.Minute, want: "b"},
		{name: "after the newest", created: time.Hour, want: "e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := rollout.CommitAt(hist, base.Add(tt.created))
			if got := a.Commit.SHA; got != tt.want || ok != (tt.want != "") {
				t.Errorf("CommitAt = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

// historyAPI serves Revisions from memory.
type historyAPI struct {
	objs    []api.Object
	hist    []state.Attempt
	listErr error
}

func (h historyAPI) Get(_ context.Context, r api.Resource, ns, name string) (api.Object, error) {
	for _, o := range h.objs {
		if got, err := api.ResourceOf(o); err == nil && got.Name == r.Name && o.GetNamespace() == ns && o.GetName() == name {
			return o, nil
		}
	}
	return nil, fmt.Errorf("%s %s/%s: %w", r.Kind, ns, name, api.ErrNotFound)
}

func (h historyAPI) List(_ context.Context, r api.Resource, ns, _ string) ([]api.Object, error) {
	if h.listErr != nil {
		return nil, h.listErr
	}
	var out []api.Object
	for _, o := range h.objs {
		if got, err := api.ResourceOf(o); err == nil && got.Name == r.Name && o.GetNamespace() == ns {
			out = append(out, o)
		}
	}
	return out, nil
}

func (h historyAPI) History(context.Context, int) ([]state.Attempt, error) { return h.hist, nil }

func TestRevisions(t *testing.T) {
	base := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: types.UID("d-uid"),
		Annotations: map[string]string{"deployment.kubernetes.io/revision": "3"}}}
	owned := []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}
	rs := func(ns, name, image string, created time.Duration, owners []metav1.OwnerReference, ann map[string]string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann, OwnerReferences: owners, CreationTimestamp: metav1.NewTime(base.Add(created))},
			Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "app", Image: image}, {Name: "proxy", Image: "proxy:1"}}}}},
		}
	}
	hist := []state.Attempt{
		{Commit: state.CommitInfo{SHA: "bbbbbbbbbbbb", Subject: "web v2"}, Time: base.Add(time.Hour), Result: state.ResultApplied, Updated: 1},
		{Commit: state.CommitInfo{SHA: "aaaaaaaaaaaa", Subject: "web v1"}, Time: base, Result: state.ResultApplied, Created: 2},
	}
	objs := []api.Object{
		d,
		rs("shop", "web-v2", "hello:v2", time.Hour+time.Second, owned, map[string]string{"deployment.kubernetes.io/revision": "2"}),
		rs("shop", "web-v1", "hello:v1", time.Second, owned, map[string]string{"deployment.kubernetes.io/revision": "3", "deployment.kubernetes.io/revision-history": "1"}),
		rs("shop", "old", "hello:v0", -time.Hour, owned, map[string]string{"deployment.kubernetes.io/revision": "0"}),
		rs("shop", "orphan", "x", 0, nil, nil),
		rs("other", "web-v9", "x", 0, owned, map[string]string{"deployment.kubernetes.io/revision": "9"}),
	}
	ci := func(a state.Attempt) *state.CommitInfo { c := a.Commit; return &c }
	tests := []struct {
		name    string
		api     historyAPI
		ns, dep string
		want    []rollout.Revision
		wantIs  error
		wantErr bool
	}{
		{name: "owned ReplicaSets by revision", api: historyAPI{objs: objs, hist: hist}, ns: "shop", dep: "web", want: []rollout.Revision{
			{Revision: 0, ReplicaSet: "old", Images: []string{"hello:v0", "proxy:1"}, Created: base.Add(-time.Hour)},
			{Revision: 2, ReplicaSet: "web-v2", Images: []string{"hello:v2", "proxy:1"}, Created: base.Add(time.Hour + time.Second), Commit: ci(hist[0])},
			{Revision: 3, Earlier: "1", Current: true, ReplicaSet: "web-v1", Images: []string{"hello:v1", "proxy:1"}, Created: base.Add(time.Second), Commit: ci(hist[1])},
		}},
		{name: "no ReplicaSets yet", api: historyAPI{objs: []api.Object{d}}, ns: "shop", dep: "web"},
		{name: "no such Deployment", api: historyAPI{objs: objs}, ns: "shop", dep: "nope", wantIs: api.ErrNotFound},
		{name: "list fails", api: historyAPI{objs: objs, listErr: errors.New("connection refused")}, ns: "shop", dep: "web", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rollout.Revisions(t.Context(), tt.api, tt.ns, tt.dep)
			if tt.wantIs != nil || tt.wantErr {
				if err == nil || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
					t.Fatalf("err = %v, want %v", err, tt.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Revisions =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
