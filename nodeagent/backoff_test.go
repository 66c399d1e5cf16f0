package nodeagent

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestBackoffs(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		advance  time.Duration // of the fake clock, before the check
		exit     time.Duration // the container's exit, relative to t0
		wantRem  time.Duration // remaining wait before the restart
		restart  bool          // record a restart for that exit after the check
		wantNext time.Duration // the delay after the restart (checked when restart)
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first restart immediate, then 10s doubling", []step{
			{exit: 0, restart: true, wantNext: 10 * time.Second},
			{advance: time.Second, exit: time.Second, wantRem: 10 * time.Second},
			{advance: 4 * time.Second, exit: time.Second, wantRem: 6 * time.Second},
			{advance: 6 * time.Second, exit: time.Second, restart: true, wantNext: 20 * time.Second},
			{advance: time.Second, exit: 12 * time.Second, wantRem: 20 * time.Second},
		}},
		{"capped at Max", []step{
			{exit: 0, restart: true, wantNext: 10 * time.Second},
			{exit: 0, wantRem: 10 * time.Second, restart: true, wantNext: 20 * time.Second},
			{exit: 0, wantRem: 20 * time.Second, restart: true, wantNext: 30 * time.Second},
			{exit: 0, wantRem: 30 * time.Second, restart: true, wantNext: 30 * time.Second},
		}},
		{"an exit after Reset starts over", []step{
			{exit: 0, restart: true, wantNext: 10 * time.Second},
			{exit: 0, wantRem: 10 * time.Second, restart: true, wantNext: 20 * time.Second},
			{advance: 2 * time.Minute, exit: 2 * time.Minute, wantRem: 0, restart: true, wantNext: 10 * time.Second},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0)
			b := newBackoffs(Backoff{Initial: 10 * time.Second, Max: 30 * time.Second, Reset: time.Minute}, clk)
			for i, s := range tc.steps {
				clk.Step(s.advance)
				exit := t0.Add(s.exit)
				if rem, _ := b.wait("u1", "app", exit); rem != s.wantRem {
					t.Errorf("step %d: remaining %v, want %v", i, rem, s.wantRem)
				}
				if s.restart {
					b.next("u1", "app", exit)
					if _, delay := b.wait("u1", "app", exit); delay != s.wantNext {
						t.Errorf("step %d: delay after the restart %v, want %v", i, delay, s.wantNext)
					}
				}
			}
		})
	}
}

func TestBackoffPulls(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := newBackoffs(Backoff{Initial: 10 * time.Second, Max: 30 * time.Second, Reset: time.Minute}, clk)
	if rem, msg := b.pending("u1", "image/app"); rem != 0 || msg != "" {
		t.Fatalf("before a failure: %v %q", rem, msg)
	}
	b.failed("u1", "image/app", "manifest unknown")
	if rem, msg := b.pending("u1", "image/app"); rem != 10*time.Second || msg != "manifest unknown" {
		t.Errorf("after a failure: %v %q, want 10s and the message", rem, msg)
	}
	clk.Step(10 * time.Second)
	if rem, _ := b.pending("u1", "image/app"); rem != 0 {
		t.Errorf("after the back-off: %v", rem)
	}
	b.failed("u1", "image/app", "again")
	if rem, _ := b.pending("u1", "image/app"); rem != 20*time.Second {
		t.Errorf("after a second failure: %v, want 20s", rem)
	}
	b.clear("u1", "image/app")
	if rem, _ := b.pending("u1", "image/app"); rem != 0 {
		t.Errorf("after clear: %v", rem)
	}
	b.failed("u1", "image/app", "x")
	b.forget("u1")
	if rem, _ := b.pending("u1", "image/app"); rem != 0 {
		t.Errorf("after forget: %v", rem)
	}
}
