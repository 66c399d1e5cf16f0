package controlplane

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

const electionKey = "/bosun/elections/controllers/1"

// hold makes s hold a fence: a key standing for the leader's election key.
func hold(t *testing.T, s *store.Store) store.Fence {
	t.Helper()
	resp, err := s.Client().Put(t.Context(), electionKey, "leader")
	if err != nil {
		t.Fatal(err)
	}
	return store.Fence{Election: ElectionName, Key: electionKey, Revision: resp.Header.Revision}
}

// lose ends the fence's term, as an expired lease does.
func lose(t *testing.T, s *store.Store) {
	t.Helper()
	if _, err := s.Client().Delete(t.Context(), electionKey); err != nil {
		t.Fatal(err)
	}
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Data: map[string]string{"v": "1"}}
}

// TestFencedStore checks each write of the controllers' store: it lands
// while the fence holds, is refused whole with store.ErrFenced once it is
// lost, and keeps the store's error contracts otherwise.
func TestFencedStore(t *testing.T) {
	cmRes, ok := api.Lookup("configmaps")
	if !ok {
		t.Fatal("no configmaps resource")
	}
	tests := []struct {
		name string
		lost bool
		// write does one write through w on a store holding ConfigMap "cm"
		// (as read: cm).
		write   func(ctx context.Context, w fencedStore, cm *corev1.ConfigMap) error
		wantErr error
		// notErr must not be wrapped (the store's single writes do not).
		notErr error
	}{
		{name: "create", write: func(ctx context.Context, w fencedStore, _ *corev1.ConfigMap) error {
			return w.Create(ctx, configMap("new"))
		}},
		{name: "update", write: func(ctx context.Context, w fencedStore, cm *corev1.ConfigMap) error {
			cm.Data["v"] = "2"
			return w.Update(ctx, cm)
		}},
		{name: "delete", write: func(ctx context.Context, w fencedStore, cm *corev1.ConfigMap) error {
			return w.Delete(ctx, cmRes, "default", "cm", cm.ResourceVersion)
		}},
		{name: "batch", write: func(ctx context.Context, w fencedStore, _ *corev1.ConfigMap) error {
			txn := w.Txn()
			if err := txn.Create(configMap("a")); err != nil {
				return err
			}
			_, err := txn.Commit(ctx)
			return err
		}},
		{name: "create with lost fence", lost: true, wantErr: store.ErrFenced, notErr: api.ErrConflict,
			write: func(ctx context.Context, w fencedStore, _ *corev1.ConfigMap) error {
				return w.Create(ctx, configMap("new"))
			}},
		{name: "update with lost fence", lost: true, wantErr: store.ErrFenced, notErr: api.ErrConflict,
			write: func(ctx context.Context, w fencedStore, cm *corev1.ConfigMap) error {
				cm.Data["v"] = "2"
				return w.Update(ctx, cm)
			}},
		{name: "delete with lost fence", lost: true, wantErr: store.ErrFenced, notErr: api.ErrConflict,
			write: func(ctx context.Context, w fencedStore, cm *corev1.ConfigMap) error {
				return w.Delete(ctx, cmRes, "default", "cm", "")
			}},
		{name: "batch with lost fence", lost: true, wantErr: store.ErrFenced, notErr: api.ErrConflict,
			write: func(ctx context.Context, w fencedStore, _ *corev1.ConfigMap) error {
				txn := w.Txn()
				if err := txn.Create(configMap("a")); err != nil {
					return err
				}
				_, err := txn.Commit(ctx)
				return err
			}},
		{name: "create of a taken name", wantErr: api.ErrExists, notErr: api.ErrConflict,
			write: func(ctx context.Context, w fencedStore, _ *corev1.ConfigMap) error {
				return w.Create(ctx, configMap("cm"))
			}},
		{name: "update of a stale copy", wantErr: api.ErrConflict,
			write: func(ctx context.Context, w fencedStore, cm *corev1.ConfigMap) error {
				cm.ResourceVersion = "1"
				return w.Update(ctx, cm)
			}},
		{name: "update of a deleted object", wantErr: api.ErrNotFound, notErr: api.ErrConflict,
			write: func(ctx context.Context, w fencedStore, cm *corev1.ConfigMap) error {
				if err := w.s.Delete(ctx, cmRes, "default", "cm", ""); err != nil {
					return err
				}
				return w.Update(ctx, cm)
			}},
		{name: "delete of a deleted object", wantErr: api.ErrNotFound, notErr: api.ErrConflict,
			write: func(ctx context.Context, w fencedStore, cm *corev1.ConfigMap) error {
				if err := w.s.Delete(ctx, cmRes, "default", "cm", ""); err != nil {
					return err
				}
				return w.Delete(ctx, cmRes, "default", "cm", cm.ResourceVersion)
			}},
		{name: "delete of a stale copy", wantErr: api.ErrConflict,
			write: func(ctx context.Context, w fencedStore, cm *corev1.ConfigMap) error {
				return w.Delete(ctx, cmRes, "default", "cm", "1")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.Start(t)
			ctx := t.Context()
			w := fencedStore{s: s, fence: hold(t, s)}
			cm := configMap("cm")
			if err := s.Create(ctx, cm); err != nil {
				t.Fatal(err)
			}
			if tt.lost {
				lose(t, s)
			}
			before, err := s.Revision(ctx)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.write(ctx, w, cm)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("write = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("write = %v, want %v", err, tt.wantErr)
			}
			if tt.notErr != nil && errors.Is(err, tt.notErr) {
				t.Errorf("write = %v, which also wraps %v", err, tt.notErr)
			}
			if tt.lost {
				if !strings.Contains(err.Error(), electionKey) {
					t.Errorf("error %q does not name the fence", err)
				}
				if after, err := s.Revision(ctx); err != nil || after != before {
					t.Errorf("revision %d -> %d (%v): a fenced write wrote something", before, after, err)
				}
			}
		})
	}
}

// TestControllersFenced runs the controllers of one term: they write while
// its fence holds, and once it is lost (the leader was paused past its lease
// and has not noticed) a change they react to makes them write nothing.
func TestControllersFenced(t *testing.T) {
	s := storetest.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	fence := hold(t, s)
	logs := &testutil.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runControllers(ctx, Config{Store: s, Workers: 1, Logger: slog.New(slog.NewTextHandler(logs, nil))}, fence, instruments{})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1"}}},
			},
		},
	}
	if err := s.Create(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	rsRes, _ := api.Lookup("replicasets")
	testutil.EventuallyTrue(t, 20*time.Second, "the deployment controller to create a replica set while leading", func() bool {
		objs, _, err := s.List(t.Context(), rsRes, "default", store.ListOptions{})
		return err == nil && len(objs) == 1
	})

	lose(t, s)
	storetest.Modify(t, s, "default", "web", &appsv1.Deployment{}, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "nginx:2" // a new replica set is due
	})
	after, err := s.Revision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 20*time.Second, "a controller write to be refused by the fence", func() bool {
		return strings.Contains(logs.String(), store.ErrFenced.Error())
	})
	if now, err := s.Revision(t.Context()); err != nil || now != after {
		t.Errorf("revision %d -> %d (%v): controllers wrote with a lost fence", after, now, err)
	}
	objs, _, err := s.List(t.Context(), rsRes, "default", store.ListOptions{})
	if err != nil || len(objs) != 1 {
		t.Errorf("replica sets = %d (%v), want still 1", len(objs), err)
	}
}
