package printers

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/bosun-dev/bosun/client/rollout"
)

// PrintRevisions prints a Deployment's revisions for `bosun history
// deploy/NAME` as a table REVISION REPLICASET IMAGES CREATED COMMIT
// SUBJECT, the current revision marked with "*", a revision brought back by
// a rollback as "N (was M)".
func PrintRevisions(w io.Writer, revs []rollout.Revision, now time.Time) error {
	if len(revs) == 0 {
		_, err := fmt.Fprintln(w, "No revisions: the Deployment has no ReplicaSets yet.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tREPLICASET\tIMAGES\tCREATED\tCOMMIT\tSUBJECT")
	for _, r := range revs {
		rev := strconv.FormatInt(r.Revision, 10)
		if r.Earlier != "" {
			rev += " (was " + r.Earlier + ")"
		}
		if r.Current {
			rev += " *"
		}
		sha, subject := "<unknown>", ""
		if r.Commit != nil {
			sha, subject = r.Commit.Short(), r.Commit.Subject
		}
		created := "<unknown>"
		if !r.Created.IsZero() {
			created = duration.HumanDuration(now.Sub(r.Created)) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", rev, r.ReplicaSet, strings.Join(r.Images, ","), created, sha, subject)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("printers: write revisions: %w", err)
	}
	_, err := fmt.Fprintln(w, "* current revision")
	return err
}
