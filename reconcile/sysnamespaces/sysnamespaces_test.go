package sysnamespaces_test

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/reconcile/sysnamespaces"
	"github.com/bosun-dev/bosun/store/storetest"
)

func TestEnsure(t *testing.T) {
	st := storetest.Start(t)
	ctx := context.Background()
	// One exists already, with content of its own (from Git, say).
	kubeSystem := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", Labels: map[string]string{"team": "ops"}}}
	if err := st.Create(ctx, kubeSystem); err != nil {
		t.Fatal(err)
	}
	c := sysnamespaces.New(sysnamespaces.Config{Writer: st, Logger: storetest.Logger(t)})
	for range 2 { // the second run finds them all
		if err := c.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, n := range sysnamespaces.Names {
		var ns corev1.Namespace
		if err := st.Get(ctx, "", n, &ns); err != nil {
			t.Errorf("namespace %s: %v", n, err)
			continue
		}
		names = append(names, n)
		if n == "kube-system" && (ns.Labels["team"] != "ops" || ns.ResourceVersion != kubeSystem.ResourceVersion) {
			t.Errorf("kube-system was changed: %+v", ns.ObjectMeta)
		}
	}
	if want := []string{"default", "kube-system", "kube-public", "kube-node-lease"}; !slices.Equal(names, want) {
		t.Errorf("namespaces %v, want %v", names, want)
	}

	// A deleted one comes back.
	var def corev1.Namespace
	if err := st.Get(ctx, "", "default", &def); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, storetest.Resource(t, "namespaces"), "", "default", def.ResourceVersion); err != nil {
		t.Fatal(err)
	}
	if err := c.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Get(ctx, "", "default", &def); err != nil {
		t.Errorf("default not created again: %v", err)
	}
}
