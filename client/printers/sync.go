package printers

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/sync/state"
)

// ago prints the time since t: "5m ago"; "unknown time" for a zero t.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return duration.HumanDuration(now.Sub(t)) + " ago"
}

// PrintStatus prints the sync status for `bosun status`: where bosun syncs
// from, the commit the cluster runs, and the last attempt. When the last
// attempt was rejected it says which commit still runs and prints every
// problem, one per line as manifests.Problem.String does, errors first; when
// it was applied with warnings, it prints them.
func PrintStatus(w io.Writer, st state.Status, now time.Time) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	if st.Repo != "" {
		repo := st.Repo
		var extra []string
		if st.Branch != "" {
			extra = append(extra, "branch "+st.Branch)
		}
		if st.Path != "" && st.Path != "." {
			extra = append(extra, "path "+st.Path)
		}
		if len(extra) > 0 {
			repo += " (" + strings.Join(extra, ", ") + ")"
		}
		fmt.Fprintf(tw, "Repository:\t%s\n", repo)
	}
	if st.Synced == nil && st.LastAttempt == nil {
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("printers: write status: %w", err)
		}
		b.WriteString("bosun has not synced yet.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	if s := st.Synced; s != nil {
		fmt.Fprintf(tw, "Synced:\t%s\n", describeCommit(s.Commit, now))
		if s.Commit.SignedBy != "" {
			fmt.Fprintf(tw, "Signed by:\t%s\n", s.Commit.SignedBy)
		}
		fmt.Fprintf(tw, "Applied:\t%s\n", ago(s.Time, now))
		fmt.Fprintf(tw, "Objects:\t%d\n", st.Objects)
	} else {
		fmt.Fprintf(tw, "Synced:\tnothing yet\n")
	}
	if a := st.LastAttempt; a != nil {
		fmt.Fprintf(tw, "Last attempt:\t%s %s %s%s\n", a.Commit.Short(), a.Result, ago(a.Time, now), counts(*a))
	}
	for _, alarm := range st.StoreAlarms {
		fmt.Fprintf(tw, "Store alarm:\t%s\n", alarm)
	}
	if h := st.Control.Suspended; h != nil {
		fmt.Fprintf(tw, "Suspended:\tby %s %s%s (bosun resume)\n", h.By, ago(h.Since, now), reasonSuffix(h.Reason))
	}
	if h := st.Control.Frozen; h.Active(now) {
		until := "until bosun unfreeze"
		if !h.Until.IsZero() {
			until = "until " + h.Until.Local().Format(time.RFC3339) + " (in " + h.Until.Sub(now).Round(time.Second).String() + ")"
		}
		fmt.Fprintf(tw, "Frozen:\t%s, by %s%s\n", until, h.By, reasonSuffix(h.Reason))
	}
	if st.SyncPolicy != "" {
		fmt.Fprintf(tw, "Sync policy:\t%s\n", st.SyncPolicy)
	}
	for i, w := range st.Windows {
		label := ""
		if i == 0 {
			label = "Sync windows:"
		}
		state := "closed, opens "
		if open, _ := w.Window.Open(now); open {
			state = "open, closes "
		}
		_, change := w.Window.Open(now)
		fmt.Fprintf(tw, "%s\t%s: %s%s (%s:%d)\n", label, w.Window.Describe(), state, change.Local().Format(time.RFC3339), w.File, w.Line)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("printers: write status: %w", err)
	}
	if a := st.LastAttempt; a != nil && a.Result != state.ResultApplied {
		b.WriteString("\n")
		keeps := "nothing has been applied yet."
		if st.Synced != nil {
			keeps = fmt.Sprintf("the cluster keeps running commit %s.", st.Synced.Commit.Short())
		}
		switch {
		case a.Result == state.ResultWaiting:
			fmt.Fprintf(&b, "Commit %s is %s\n", a.Commit.Short(), a.Message)
		case a.Result == state.ResultRejected:
			fmt.Fprintf(&b, "Commit %s was rejected; %s\n", a.Commit.Short(), keeps)
		case a.Commit.SHA == "":
			fmt.Fprintf(&b, "Syncing failed; bosun retries, and meanwhile %s\n", keeps)
		default:
			fmt.Fprintf(&b, "Syncing commit %s failed; bosun retries it, and meanwhile %s\n", a.Commit.Short(), keeps)
		}
		writeProblems(&b, "", *a)
	} else if ws := manifests.Problems(a.Problems).Warnings(); a != nil && len(ws) > 0 {
		fmt.Fprintf(&b, "\nCommit %s was applied with %s:\n", a.Commit.Short(), plural(len(ws), "warning"))
		writeProblems(&b, "", *a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// reasonSuffix is ": reason", or "" without one.
func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

// plural is "1 warning", "2 warnings".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// describeCommit prints `1a2b3c4d "subject" by author, committed 2h ago`.
func describeCommit(c state.CommitInfo, now time.Time) string {
	s := c.Short()
	if c.Subject != "" {
		s += fmt.Sprintf(" %q", c.Subject)
	}
	if c.Author != "" {
		s += " by " + c.Author
	}
	if !c.Time.IsZero() {
		s += ", committed " + ago(c.Time, now)
	}
	return s
}

func counts(a state.Attempt) string {
	if a.Result != state.ResultApplied {
		return ""
	}
	return fmt.Sprintf(" (%d created, %d updated, %d pruned)", a.Created, a.Updated, a.Pruned)
}

// writeProblems writes the errors then the warnings of a, one per line, each
// after indent; the message alone when there are no problems.
func writeProblems(b *strings.Builder, indent string, a state.Attempt) {
	ps := manifests.Problems(a.Problems)
	if len(ps) == 0 {
		if a.Message != "" {
			for _, line := range strings.Split(strings.TrimRight(a.Message, "\n"), "\n") {
				fmt.Fprintf(b, "%s%s\n", indent, line)
			}
		}
		return
	}
	for _, group := range []manifests.Problems{ps.Errors(), ps.Warnings()} {
		for _, p := range group {
			fmt.Fprintf(b, "%s%s\n", indent, p.String())
		}
	}
}

// PrintHistory prints sync attempts (newest first, as the server returns
// them) as a table SHA TIME AUTHOR RESULT SUBJECT, then the message and
// problems of every rejected or failed attempt, and the warnings of applied
// ones.
func PrintHistory(w io.Writer, h []state.Attempt, now time.Time) error {
	if len(h) == 0 {
		_, err := fmt.Fprintln(w, "No sync attempts recorded yet.")
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "SHA\tTIME\tAUTHOR\tRESULT\tSUBJECT")
	for _, a := range h {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Commit.Short(), ago(a.Time, now),
			orNone(a.Commit.Author), a.Result, orNone(a.Commit.Subject))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("printers: write history: %w", err)
	}
	for _, a := range h {
		if a.Result == state.ResultApplied {
			ws := manifests.Problems(a.Problems).Warnings()
			if len(ws) == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n%s applied %s with %s:\n", a.Commit.Short(), ago(a.Time, now), plural(len(ws), "warning"))
		} else {
			fmt.Fprintf(&b, "\n%s %s %s:\n", a.Commit.Short(), a.Result, ago(a.Time, now))
		}
		writeProblems(&b, "  ", a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// orNone is s, or kubectl's "<none>" for an empty cell.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
