package manifests_test

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bosun-dev/bosun/manifests"
)

func TestSyncWindows(t *testing.T) {
	good := `apiVersion: bosun.dev/v1alpha1
kind: SyncWindow
metadata:
  name: weekend-freeze
spec:
  kind: deny
  schedule: "0 18 * * 5"
  duration: 63h
  timeZone: Europe/Berlin
`
	res, err := manifests.Load(fstest.MapFS{"windows.yaml": {Data: []byte(good)}}, manifests.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) != 0 || len(res.Objects) != 0 || len(res.SyncWindows) != 1 {
		t.Fatalf("problems %v, %d objects, %d windows; want one window and nothing else", res.Problems, len(res.Objects), len(res.SyncWindows))
	}
	w := res.SyncWindows[0].Window
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, tc := range []struct {
		at     time.Time
		open   bool
		change time.Time
	}{
		{time.Date(2026, 12, 25, 17, 59, 0, 0, berlin), false, time.Date(2026, 12, 25, 18, 0, 0, 0, berlin)}, // Friday, before
		{time.Date(2026, 12, 25, 18, 0, 0, 0, berlin), true, time.Date(2026, 12, 28, 9, 0, 0, 0, berlin)},    // opens
		{time.Date(2026, 12, 27, 12, 0, 0, 0, berlin), true, time.Date(2026, 12, 28, 9, 0, 0, 0, berlin)},    // Sunday
		{time.Date(2026, 12, 28, 9, 0, 0, 0, berlin), false, time.Date(2027, 1, 1, 18, 0, 0, 0, berlin)},     // Monday 09:00: closed
	} {
		open, change := w.Open(tc.at)
		if open != tc.open || !change.Equal(tc.change) {
			t.Errorf("Open(%s) = %v, %s; want %v, %s", tc.at, open, change, tc.open, tc.change)
		}
	}

	for _, tc := range []struct{ name, doc, want string }{
		{"bad kind", strings.Replace(good, "kind: deny", "kind: maybe", 1), "windows.yaml:6: SyncWindow weekend-freeze: spec.kind: unsupported value \"maybe\""},
		{"bad schedule", strings.Replace(good, `"0 18 * * 5"`, `"every friday"`, 1), "windows.yaml:7: SyncWindow weekend-freeze: spec.schedule: invalid cron schedule"},
		{"bad duration", strings.Replace(good, "63h", "a weekend", 1), "windows.yaml:8: SyncWindow weekend-freeze: spec.duration: invalid duration"},
		{"bad zone", strings.Replace(good, "Europe/Berlin", "Mars/Olympus", 1), "windows.yaml:9: SyncWindow weekend-freeze: spec.timeZone: unknown time zone"},
		{"unknown field", strings.Replace(good, "  duration: 63h", "  duration: 63h\n  length: 2h", 1), "spec.length"},
		{"bad apiVersion", strings.Replace(good, "bosun.dev/v1alpha1", "bosun.dev/v1", 1), "unsupported apiVersion \"bosun.dev/v1\" for kind SyncWindow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := manifests.Load(fstest.MapFS{"windows.yaml": {Data: []byte(tc.doc)}}, manifests.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.SyncWindows) != 0 || !strings.Contains(res.Problems.String(), tc.want) {
				t.Errorf("problems:\n%s\nwant one containing %q, and no window", res.Problems, tc.want)
			}
		})
	}
}
