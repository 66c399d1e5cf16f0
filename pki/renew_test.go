package pki

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/internal/testutil"
)

func TestNeedsRenewal(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, _ := newTestCA(t, WithClock(testingclock.NewFakePassiveClock(start)))
	certPEM, _ := issueTo(t, ca, Request{User: userNamed("x"), Usage: UsageClient, Validity: 3 * time.Hour})
	cert := mustParseCert(t, certPEM)
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	for _, tc := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{name: "new", now: start, want: false},
		{name: "just over a third left", now: cert.NotAfter.Add(-lifetime/3 - time.Second), want: false},
		{name: "a third left", now: cert.NotAfter.Add(-lifetime / 3), want: true},
		{name: "almost expired", now: cert.NotAfter.Add(-time.Second), want: true},
		{name: "expired", now: cert.NotAfter.Add(time.Hour), want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsRenewal(cert, tc.now); got != tc.want {
				t.Errorf("NeedsRenewal at %s = %v, want %v (NotBefore %s, NotAfter %s)", tc.now, got, tc.want, cert.NotBefore, cert.NotAfter)
			}
		})
	}
}

// TestRenewerSwapsPair drives a Renewer with a fake clock: nothing happens
// before a third of the lifetime is left; then a failed renewal keeps the
// old pair and is retried after RetryInterval, and a successful one replaces
// the pair on disk and in memory and calls OnRenew.
func TestRenewerSwapsPair(t *testing.T) {
	fc := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ca, _ := newTestCA(t, WithClock(fc))
	dir := t.TempDir()
	req := Request{User: userNamed("x"), Usage: UsageClient, Validity: 3 * time.Hour}
	certPEM, keyPEM := issueTo(t, ca, req)
	kp, err := CreateKeyPair(filepath.Join(dir, "x.crt"), filepath.Join(dir, "x.key"), certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	first := kp.Current().Leaf

	var calls, renewed atomic.Int32
	r, err := NewRenewer(RenewerConfig{
		Name:    "test credential",
		KeyPair: kp,
		Renew: func(context.Context) ([]byte, []byte, error) {
			if calls.Add(1) == 1 {
				return nil, nil, errors.New("server unreachable")
			}
			return ca.Issue(req)
		},
		OnRenew:       func(_, _ []byte) error { renewed.Add(1); return nil },
		Clock:         fc,
		RetryInterval: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Start(t, r.Run)

	waitForTimer := func() {
		t.Helper()
		testutil.EventuallyTrue(t, 5*time.Second, "the renewer waits on the clock", fc.HasWaiters)
	}
	waitForTimer()
	fc.Step(time.Hour) // two thirds of the lifetime are left: nothing to do
	waitForTimer()
	if calls.Load() != 0 {
		t.Fatalf("renewed %d times with two thirds of the lifetime left", calls.Load())
	}

	fc.SetTime(RenewAt(first).Add(time.Second))
	testutil.EventuallyTrue(t, 5*time.Second, "the first renewal attempt", func() bool { return calls.Load() == 1 })
	waitForTimer()
	if kp.Current().Leaf != first {
		t.Fatal("a failed renewal replaced the pair")
	}

	fc.Step(time.Minute)
	testutil.EventuallyTrue(t, 5*time.Second, "the retried renewal", func() bool { return renewed.Load() == 1 })
	now := kp.Current().Leaf
	if now.SerialNumber.Cmp(first.SerialNumber) == 0 || !now.NotAfter.After(first.NotAfter) {
		t.Fatalf("after renewal serial %s expires %s; want a new certificate expiring after %s", now.SerialNumber, now.NotAfter, first.NotAfter)
	}
	onDisk, err := LoadKeyPair(kp.CertFile(), kp.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if onDisk.Current().Leaf.SerialNumber.Cmp(now.SerialNumber) != 0 {
		t.Errorf("on disk serial %s, in memory %s", onDisk.Current().Leaf.SerialNumber, now.SerialNumber)
	}
	waitForTimer()
	if got := calls.Load(); got != 2 {
		t.Errorf("Renew called %d times, want 2 (one failure, one success, then waiting)", got)
	}
}

func TestNewRenewerRequires(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  RenewerConfig
	}{
		{name: "no key pair", cfg: RenewerConfig{Renew: func(context.Context) ([]byte, []byte, error) { return nil, nil, nil }}},
		{name: "no renew func", cfg: RenewerConfig{KeyPair: &KeyPair{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewRenewer(tc.cfg); err == nil {
				t.Error("NewRenewer succeeded, want an error")
			}
		})
	}
}
