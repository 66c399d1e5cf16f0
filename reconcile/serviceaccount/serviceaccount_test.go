package serviceaccount_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile/serviceaccount"
	"github.com/bosun-dev/bosun/store/storetest"
)

func TestDefaultServiceAccounts(t *testing.T) {
	st := storetest.Start(t)
	ctx := t.Context()
	create := func(o api.Object) {
		t.Helper()
		if err := st.Create(ctx, o); err != nil {
			t.Fatalf("create %s: %v", o.GetName(), err)
		}
	}
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "before"}})
	// A default ServiceAccount that exists already (from Git, say) is kept as it is.
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "git"}})
	own := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "git", Name: "default", Labels: map[string]string{"team": "ops"}}}
	create(own)
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "leaving"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}})

	inf := cache.NewInformers(st, storetest.Logger(t))
	c := serviceaccount.New(serviceaccount.Config{Writer: st, Informers: inf, Logger: storetest.Logger(t)})
	inf.Start(ctx)
	testutil.Start(t, c.Run)
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "after"}})

	get := func(ns string) (*corev1.ServiceAccount, error) {
		var sa corev1.ServiceAccount
		err := st.Get(ctx, ns, "default", &sa)
		return &sa, err
	}
	waitFor := func(what string, namespaces ...string) {
		t.Helper()
		testutil.EventuallyNoDiff(t, 10*time.Second, what, func() string {
			for _, ns := range namespaces {
				if _, err := get(ns); err != nil {
					return ns + ": " + err.Error()
				}
			}
			return ""
		})
	}
	waitFor("default service accounts", "before", "after", "git")
	if sa, _ := get("git"); sa.ResourceVersion != own.ResourceVersion {
		t.Errorf("the existing default ServiceAccount was rewritten: %+v", sa.ObjectMeta)
	}

	// Deleted, it comes back.
	if err := st.Delete(ctx, storetest.Resource(t, "serviceaccounts"), "after", "default", ""); err != nil {
		t.Fatal(err)
	}
	waitFor("the deleted default service account to come back", "after")

	// A terminating namespace gets none (checked last: by now the
	// controller has long handled it).
	if _, err := get("leaving"); err == nil {
		t.Errorf("a terminating namespace got a default service account")
	}
}

func TestDefaultPodServiceAccount(t *testing.T) {
	tests := []struct {
		name        string
		spec        corev1.PodSpec
		wantName    string
		wantChanged bool
	}{
		{name: "none given", spec: corev1.PodSpec{}, wantName: "default", wantChanged: true},
		{name: "named", spec: corev1.PodSpec{ServiceAccountName: "builder"}, wantName: "builder"},
		{name: "deprecated field only", spec: corev1.PodSpec{DeprecatedServiceAccount: "old"}, wantName: "old", wantChanged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tt.spec}
			changed := serviceaccount.DefaultPodServiceAccount(pod)
			if pod.Spec.ServiceAccountName != tt.wantName || changed != tt.wantChanged {
				t.Errorf("serviceAccountName %q changed %v, want %q %v", pod.Spec.ServiceAccountName, changed, tt.wantName, tt.wantChanged)
			}
			if err := (serviceaccount.Admitter{}).AdmitPod(context.Background(), &corev1.Pod{Spec: tt.spec}); err != nil {
				t.Errorf("Admitter refused: %v", err)
			}
		})
	}
}
