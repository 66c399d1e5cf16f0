package manifests

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SyncWindowGVK is the kind of the repository's sync windows: bosun's own,
// not stored in the cluster; sync reads them from the commits it applies.
var SyncWindowGVK = schema.GroupVersionKind{Group: "bosun.dev", Version: "v1alpha1", Kind: "SyncWindow"}

// SyncWindow declares when commits may be applied, as Argo CD's sync
// windows: a deny window holds commits back while it is open; when the
// applied commit has allow windows, commits are applied only while one is
// open. The windows in force are those of the synced commit, so a commit
// that changes them is itself held by them.
//
//	apiVersion: bosun.dev/v1alpha1
//	kind: SyncWindow
//	metadata:
//	  name: weekend-freeze
//	spec:
//	  kind: deny
//	  schedule: "0 18 * * 5"     # cron: Fridays at 18:00 ...
//	  duration: 63h              # ... until Monday 09:00
//	  timeZone: Europe/Berlin
type SyncWindow struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              SyncWindowSpec `json:"spec"`
}

// SyncWindowSpec is a window's schedule.
type SyncWindowSpec struct {
	// Kind is "deny" or "allow".
	Kind string `json:"kind"`
	// Schedule is a cron expression of when the window opens: five fields
	// (minute hour day-of-month month day-of-week) or a descriptor such as
	// @daily.
	Schedule string `json:"schedule"`
	// Duration is how long the window stays open each time: a Go duration
	// such as "2h" or "63h".
	Duration string `json:"duration"`
	// TimeZone is an IANA time zone the schedule is read in ("UTC" when
	// empty).
	TimeZone string `json:"timeZone,omitempty"`
}

// SyncWindowAt is a window and where it is declared.
type SyncWindowAt struct {
	Window SyncWindow `json:"window"`
	File   string     `json:"file"`
	Line   int        `json:"line"`
}

// parsed is a validated window.
type parsed struct {
	sched cron.Schedule
	dur   time.Duration
	loc   *time.Location
}

// parse validates w; the error names the field.
func (w *SyncWindow) parse() (parsed, string, error) {
	var p parsed
	if w.Spec.Kind != "allow" && w.Spec.Kind != "deny" {
		return p, "spec.kind", fmt.Errorf("unsupported value %q: use deny or allow", w.Spec.Kind)
	}
	s, err := cron.ParseStandard(w.Spec.Schedule)
	if err != nil {
		return p, "spec.schedule", fmt.Errorf("invalid cron schedule %q: %v", w.Spec.Schedule, err)
	}
	d, err := time.ParseDuration(w.Spec.Duration)
	if err != nil || d <= 0 {
		return p, "spec.duration", fmt.Errorf("invalid duration %q: use a positive Go duration such as 2h", w.Spec.Duration)
	}
	loc := time.UTC
	if w.Spec.TimeZone != "" {
		if loc, err = time.LoadLocation(w.Spec.TimeZone); err != nil {
			return p, "spec.timeZone", fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Berlin", w.Spec.TimeZone)
		}
	}
	return parsed{sched: s, dur: d, loc: loc}, "", nil
}

// Open reports whether w is open at now, and when that changes: the end
// of the opening it is in, or the start of the next one. An invalid
// window (not from Load) is never open.
func (w SyncWindow) Open(now time.Time) (open bool, change time.Time) {
	p, _, err := w.parse()
	if err != nil {
		return false, time.Time{}
	}
	t := now.In(p.loc)
	// The first opening after now-duration: if it started by now, the
	// window is open until it started + duration.
	start := p.sched.Next(t.Add(-p.dur))
	if !start.After(t) {
		return true, start.Add(p.dur)
	}
	return false, start
}

// Describe renders w for messages: `weekend-freeze (deny "0 18 * * 5" for 63h, Europe/Berlin)`.
func (w SyncWindow) Describe() string {
	tz := w.Spec.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	return fmt.Sprintf("%s (%s %q for %s, %s)", w.Name, w.Spec.Kind, w.Spec.Schedule, w.Spec.Duration, tz)
}
