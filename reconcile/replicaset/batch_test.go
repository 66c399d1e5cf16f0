package replicaset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
)

// fakeStore is a Writer and a source of Batches whose outcomes a test
// scripts: each Commit returns the next of commitErrs and each single Create
// the next of createErrs (nil once they run out). It records every attempt.
// It serves the paths a real store cannot be made to take on demand: a
// generated name that collides, and a store whose transactions are too small.
type fakeStore struct {
	t          *testing.T
	commitErrs []error
	createErrs []error
	batches    int   // Batches started
	commits    []int // pods in each Commit attempted
	creates    int   // single Creates attempted
	written    int   // pods written, by Commits and Creates that succeeded
}

func pop(errs *[]error) error {
	if len(*errs) == 0 {
		return nil
	}
	err := (*errs)[0]
	*errs = (*errs)[1:]
	return err
}

func (f *fakeStore) newBatch() Batch {
	f.batches++
	return &fakeBatch{f: f}
}

func (f *fakeStore) Create(_ context.Context, obj api.Object) error {
	f.t.Helper()
	if obj.GetName() == "" && obj.GetGenerateName() == "" {
		f.t.Error("Create of a pod without name or generateName")
	}
	f.creates++
	err := pop(&f.createErrs)
	if err == nil {
		f.written++
	}
	return err
}

func (f *fakeStore) Update(context.Context, api.Object) error {
	f.t.Error("creating pods updated an object")
	return errors.New("fake: unexpected update")
}

func (f *fakeStore) Delete(context.Context, api.Resource, string, string, string) error {
	f.t.Error("creating pods deleted an object")
	return errors.New("fake: unexpected delete")
}

type fakeBatch struct {
	f         *fakeStore
	n         int
	committed bool
}

func (b *fakeBatch) Create(obj api.Object) error {
	if b.committed {
		b.f.t.Error("Create on a committed Batch")
	}
	if obj.GetGenerateName() == "" {
		b.f.t.Error("batched pod without generateName")
	}
	b.n++
	return nil
}

func (b *fakeBatch) Commit(context.Context) (int64, error) {
	if b.committed {
		b.f.t.Error("Batch committed twice")
	}
	b.committed = true
	b.f.commits = append(b.f.commits, b.n)
	err := pop(&b.f.commitErrs)
	if err == nil {
		b.f.written += b.n
	}
	return int64(len(b.f.commits)), err
}

// TestCreatePodsOutcomes covers what createPods does with each answer of the
// store: a collision retries the whole batch with new names, a batch above
// the store's limits becomes single creates, anything else is returned.
func TestCreatePodsOutcomes(t *testing.T) {
	taken := fmt.Errorf("fake: txn: %w: a pod name is taken (%w)", api.ErrConflict, api.ErrExists)
	takenOne := fmt.Errorf("fake: create pod: %w", api.ErrExists)
	tooLarge := fmt.Errorf("fake: txn: %w: above --max-txn-ops", api.ErrTooLarge)
	down := errors.New("fake: etcd is unavailable")
	always := func(err error) []error { return slices.Repeat([]error{err}, maxNameRetries) }
	tests := []struct {
		name        string
		k           int
		commitErrs  []error
		createErrs  []error
		wantCreated int
		wantErr     error // nil: success
		wantCommits []int // pods per Commit
		wantCreates int   // single Creates
	}{
		{name: "one pod is a single create", k: 1, wantCreated: 1, wantCreates: 1},
		{name: "one pod whose name is taken gets a new name", k: 1, createErrs: []error{takenOne},
			wantCreated: 1, wantCreates: 2},
		{name: "one pod whose names are always taken gives up", k: 1, createErrs: always(takenOne),
			wantErr: api.ErrExists, wantCreates: maxNameRetries},
		{name: "many pods are one commit", k: 5, wantCreated: 5, wantCommits: []int{5}},
		{name: "a taken name retries the batch with new names", k: 5, commitErrs: []error{taken},
			wantCreated: 5, wantCommits: []int{5, 5}},
		{name: "names always taken give up", k: 5, commitErrs: always(taken),
			wantErr: api.ErrExists, wantCommits: slices.Repeat([]int{5}, maxNameRetries)},
		{name: "a batch too large is created one by one", k: 5, commitErrs: []error{tooLarge},
			wantCreated: 5, wantCommits: []int{5}, wantCreates: 5},
		{name: "one by one stops at the first failure", k: 5, commitErrs: []error{tooLarge},
			createErrs: []error{nil, nil, down}, wantCreated: 2, wantErr: down, wantCommits: []int{5}, wantCreates: 3},
		{name: "another failure is returned at once", k: 5, commitErrs: []error{down},
			wantErr: down, wantCommits: []int{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeStore{t: t, commitErrs: slices.Clone(tt.commitErrs), createErrs: slices.Clone(tt.createErrs)}
			c := &Controller{writer: f, newBatch: f.newBatch}
			rs := &appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "rs-uid"},
				Spec: appsv1.ReplicaSetSpec{
					Replicas: ptr.To(int32(tt.k)),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
						Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
					},
				},
			}
			o := &owner{obj: rs, rs: rs, hasTemplate: true}
			ref := *metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))

			created, err := c.createPods(context.Background(), o, ref, tt.k)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("createPods: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("createPods error = %v, want one wrapping %v", err, tt.wantErr)
			}
			if created != tt.wantCreated || f.written != tt.wantCreated {
				t.Errorf("createPods reported %d pods created and the store got %d, want %d", created, f.written, tt.wantCreated)
			}
			if !slices.Equal(f.commits, tt.wantCommits) {
				t.Errorf("commits of %v pods, want %v", f.commits, tt.wantCommits)
			}
			if f.batches != len(f.commits) {
				t.Errorf("%d batches started for %d commits: each attempt needs a fresh batch", f.batches, len(f.commits))
			}
			if f.creates != tt.wantCreates {
				t.Errorf("%d single creates, want %d", f.creates, tt.wantCreates)
			}
		})
	}
}
