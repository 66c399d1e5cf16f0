package apiserver_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
)

func boundPod(name, node string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
}

func TestFieldSelectorList(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	e.create(boundPod("a", "n1"))
	e.create(boundPod("b", "n2"))
	e.create(boundPod("c", ""))
	c, err := client.New(e.url)
	if err != nil {
		t.Fatal(err)
	}
	pods, _ := api.Lookup("pods")
	for _, tc := range []struct {
		name, sel string
		want      []string
		code      int32
	}{
		{"node", "spec.nodeName=n1", []string{"a"}, 0},
		{"unscheduled", "spec.nodeName=", []string{"c"}, 0},
		{"scheduled", "spec.nodeName!=", []string{"a", "b"}, 0},
		{"name and node", "metadata.name=b,spec.nodeName=n2", []string{"b"}, 0},
		{"unsupported", "spec.hostname=x", nil, http.StatusBadRequest},
		{"no operator", "spec.nodeName", nil, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, _, err := c.ListWith(ctx(t), pods, "", client.ListOptions{FieldSelector: tc.sel})
			if tc.code != 0 {
				var ae *client.APIError
				if !errors.As(err, &ae) || ae.Status.Code != tc.code {
					t.Fatalf("list with %q: %v, want code %d", tc.sel, err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.GetName())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("list with %q = %v, want %v", tc.sel, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("list with %q = %v, want %v", tc.sel, got, tc.want)
				}
			}
		})
	}
}

func TestFieldSelectorWatch(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	e.create(boundPod("a", "n1"))
	e.create(boundPod("b", "n2"))
	c, err := client.New(e.url)
	if err != nil {
		t.Fatal(err)
	}
	pods, _ := api.Lookup("pods")
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	events := make(chan client.Event, 16)
	go func() {
		_ = c.WatchWith(wctx, pods, "", client.ListOptions{FieldSelector: "spec.nodeName=n1"}, "", func(ev client.Event) error {
			events <- ev
			return nil
		})
	}()
	// typ "ADDED|MODIFIED" accepts either: a watch resumed from a
	// resourceVersion cannot tell which the client has seen.
	expect := func(typ, name string) {
		t.Helper()
		select {
		case ev := <-events:
			if !strings.Contains(typ, ev.Type) || ev.Object.GetName() != name {
				t.Fatalf("event %s %s, want %s %s", ev.Type, ev.Object.GetName(), typ, name)
			}
		case <-wctx.Done():
			t.Fatalf("no event, want %s %s", typ, name)
		}
	}
	expect("ADDED", "a")
	late := boundPod("late", "")
	e.create(late)
	late.Spec.NodeName = "n1" // bound: now it matches
	if err := e.st.Update(ctx(t), late); err != nil {
		t.Fatal(err)
	}
	expect("ADDED|MODIFIED", "late")
	if err := e.st.Delete(ctx(t), pods, "default", "a", ""); err != nil {
		t.Fatal(err)
	}
	expect("DELETED", "a")
}
