package defaults

import (
	"log/slog"
	"testing"
	"time"

	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"
)

func TestPositive(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    time.Duration
		want time.Duration
	}{
		{name: "unset takes the default", v: 0, want: time.Minute},
		{name: "negative takes the default", v: -time.Second, want: time.Minute},
		{name: "positive is kept", v: time.Second, want: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.v
			Positive(&v, time.Minute)
			if v != tc.want {
				t.Errorf("Positive(%v, 1m) set %v, want %v", tc.v, v, tc.want)
			}
		})
	}
	n := 0
	Positive(&n, 3)
	if n != 3 {
		t.Errorf("Positive(0, 3) on an int set %d, want 3", n)
	}
}

func TestLoggerAndClock(t *testing.T) {
	var l *slog.Logger
	Logger(&l)
	if l == nil {
		t.Fatal("Logger(nil) left nil")
	}
	own := slog.New(slog.DiscardHandler)
	l = own
	Logger(&l)
	if l != own {
		t.Error("Logger replaced a logger that was set")
	}

	var c clock.WithTicker
	Clock(&c)
	if _, ok := c.(clock.RealClock); !ok {
		t.Errorf("Clock(nil) set %T, want clock.RealClock", c)
	}
	fake := testingclock.NewFakeClock(time.Unix(0, 0))
	var cc clock.Clock = fake
	Clock(&cc)
	if cc != clock.Clock(fake) {
		t.Errorf("Clock replaced a clock that was set with %T", cc)
	}
}
