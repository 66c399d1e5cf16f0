package apiserver_test

import (
	"testing"

	"github.com/bosun-dev/bosun/apiserver"
)

// TestWatchSelectorResumed checks a selector watch resumed from a
// resourceVersion, as reflectors do after a list: the stream has never sent
// the objects, so whether the client holds one comes from whether it matched
// before the change. Leaving the selection is DELETED, entering it ADDED.
func TestWatchSelectorResumed(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	a := deployment("default", "a", map[string]string{"tier": "front"}, false)
	b := deployment("default", "b", map[string]string{"tier": "front"}, false)
	c := deployment("default", "c", map[string]string{"tier": "back"}, false)
	e.create(a)
	e.create(b)
	e.create(c)
	from := c.ResourceVersion // the client listed a and b at this revision

	w := e.watch("/apis/apps/v1/deployments?watch=true&labelSelector=tier%3Dfront&resourceVersion=" + from)
	a.Labels["tier"] = "back"
	if err := e.st.Update(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	w.expect("DELETED", "a", a.ResourceVersion)
	b.Spec.Replicas = int32p(7)
	if err := e.st.Update(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	w.expect("MODIFIED", "b", b.ResourceVersion)
	c.Labels["tier"] = "front"
	if err := e.st.Update(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	w.expect("ADDED", "c", c.ResourceVersion)
	// a no longer matches and the client was told: its changes are not sent.
	a.Spec.Replicas = int32p(9)
	if err := e.st.Update(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	c.Spec.Replicas = int32p(3)
	if err := e.st.Update(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	w.expect("MODIFIED", "c", c.ResourceVersion)
}
