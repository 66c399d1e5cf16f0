package expectations_test

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/reconcile/expectations"
)

func TestSet(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	e := expectations.New(clk, time.Minute)
	satisfied := func(want bool) {
		t.Helper()
		if ok, _ := e.Satisfied("default/web"); ok != want {
			t.Fatalf("Satisfied = %v, want %v", ok, want)
		}
	}
	satisfied(true) // nothing recorded

	e.Expect("default/web", 2, []string{"default/a"})
	satisfied(false)
	e.CreationObserved("default/web")
	e.CreationObserved("default/web")
	satisfied(false) // the deletion is still outstanding
	e.DeletionObserved("default/web", "default/b")
	satisfied(false) // another pod's deletion changes nothing
	e.DeletionObserved("default/web", "default/a")
	satisfied(true)

	e.Expect("default/web", 1, nil)
	clk.Step(40 * time.Second)
	if ok, wait := e.Satisfied("default/web"); ok || wait != 20*time.Second {
		t.Fatalf("Satisfied after 40 s = %v, %v; want false, 20s", ok, wait)
	}
	clk.Step(20 * time.Second)
	satisfied(true) // lapsed

	e.Expect("default/web", 5, nil)
	e.Forget("default/web")
	satisfied(true)
	e.CreationObserved("default/gone") // unknown keys are ignored
}
