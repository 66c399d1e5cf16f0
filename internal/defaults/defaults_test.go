package defaults

import (
	"testing"
	"time"
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
