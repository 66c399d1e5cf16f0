package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/api/table"
	"github.com/bosun-dev/bosun/client"
)

func newDescribeCommand(g *globalOptions) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "describe KIND NAME | KIND/NAME",
		Short: "Show an object, where it comes from in Git, and its Events",
		Long: `describe shows one object as kubectl describe does in brief: its name,
labels, the file, line and commit it was synced from, the figures of its
kind (ready replicas, a pod's status and node, ...), its conditions, and
the Events about it, newest last — the scheduler's reason a pod is Pending,
failing probes, image pulls, the commits that changed it.

kubectl describe works against bosun too, with kubectl's full layout.

Examples:
  bosun describe pod web-7d4b9c-x2x9z -n demo
  bosun describe deploy/web -n demo
  bosun describe node node-1`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, name, err := parseDescribeArgs(args)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ns := namespace
			if !r.Namespaced {
				ns = ""
			}
			obj, err := c.Get(cmd.Context(), r, ns, name)
			if err != nil {
				return err
			}
			evs, err := eventsAbout(cmd.Context(), c, r, obj)
			if err != nil {
				return err
			}
			return describe(cmd.OutOrStdout(), r, obj, evs, time.Now())
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of the object")
	return cmd
}

// parseDescribeArgs reads "KIND NAME" or "KIND/NAME".
func parseDescribeArgs(args []string) (api.Resource, string, error) {
	kind, name := args[0], ""
	if k, n, ok := strings.Cut(kind, "/"); ok {
		if len(args) > 1 {
			return api.Resource{}, "", fmt.Errorf("describe: give either KIND/NAME or KIND NAME, not both")
		}
		kind, name = k, n
	} else if len(args) > 1 {
		name = args[1]
	}
	if name == "" {
		return api.Resource{}, "", fmt.Errorf("describe: name the object: KIND NAME or KIND/NAME")
	}
	r, ok := api.Lookup(kind)
	if !ok {
		return api.Resource{}, "", fmt.Errorf("describe: unknown kind %q; known kinds: %s", kind, knownKinds())
	}
	return r, name, nil
}

// eventsAbout lists the Events whose involved object is obj (kind, name
// and uid), oldest first.
func eventsAbout(ctx context.Context, c *client.Client, r api.Resource, obj api.Object) ([]*corev1.Event, error) {
	evRes, _ := api.Lookup("events")
	ns := obj.GetNamespace()
	if !r.Namespaced {
		ns = "" // Events of cluster-scoped objects live in "default"; look everywhere
	}
	sel := fmt.Sprintf("involvedObject.kind=%s,involvedObject.name=%s", r.Kind, obj.GetName())
	objs, _, err := c.ListWith(ctx, evRes, ns, client.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("describe: list Events: %w", err)
	}
	var out []*corev1.Event
	for _, o := range objs {
		ev, ok := o.(*corev1.Event)
		if ok && (ev.InvolvedObject.UID == "" || ev.InvolvedObject.UID == obj.GetUID()) {
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b *corev1.Event) int { return lastSeen(a).Compare(lastSeen(b)) })
	return out, nil
}

func lastSeen(ev *corev1.Event) time.Time {
	if !ev.LastTimestamp.IsZero() {
		return ev.LastTimestamp.Time
	}
	return ev.EventTime.Time
}

// describe writes obj (of resource r) and its Events.
func describe(w io.Writer, r api.Resource, obj api.Object, evs []*corev1.Event, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	field := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	field("Name", obj.GetName())
	if r.Namespaced {
		field("Namespace", obj.GetNamespace())
	}
	field("Kind", r.Kind+" ("+r.APIVersion()+")")
	field("Labels", keyValues(obj.GetLabels()))
	ann := obj.GetAnnotations()
	if src := ann[api.AnnotationSource]; src != "" {
		commit := ann[api.AnnotationCommit]
		if len(commit) > 8 {
			commit = commit[:8]
		}
		field("Source", fmt.Sprintf("%s (commit %s)", src, commit))
		if by := ann[api.AnnotationRenderedBy]; by != "" {
			field("Rendered by", by)
		}
	}
	created := obj.GetCreationTimestamp()
	field("Created", fmt.Sprintf("%s (%s ago)", created.UTC().Format(time.RFC3339), table.Age(created, now)))
	if ts := obj.GetDeletionTimestamp(); ts != nil {
		field("Deleting", "since "+ts.UTC().Format(time.RFC3339))
	}
	// The kind's own figures: the columns kubectl get shows for it.
	t := table.For(r, []api.Object{obj}, table.Options{Now: now})
	for i, col := range t.Columns {
		switch col.Name {
		case "NAME", "AGE", "COMMIT", "SOURCE":
			continue
		}
		if len(t.Rows) == 1 && i < len(t.Rows[0]) {
			field(titleCase(col.Name), t.Rows[0][i])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if conds := conditions(obj); len(conds) > 0 {
		fmt.Fprintln(w, "Conditions:")
		tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tMESSAGE")
		for _, c := range conds {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Type, c.Status, orDash(c.Reason), orDash(c.Message))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(evs) == 0 {
		_, err := fmt.Fprintln(w, "Events:  <none>")
		return err
	}
	fmt.Fprintln(w, "Events:")
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tREASON\tAGE\tFROM\tMESSAGE")
	for _, ev := range evs {
		age := table.Age(metav1.NewTime(lastSeen(ev)), now)
		if ev.Count > 1 {
			age = fmt.Sprintf("%s (x%d over %s)", age, ev.Count, table.Age(ev.FirstTimestamp, now))
		}
		from := ev.Source.Component
		if from == "" {
			from = ev.ReportingController
		}
		if ev.Source.Host != "" {
			from += ", " + ev.Source.Host
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", ev.Type, ev.Reason, age, from, ev.Message)
	}
	return tw.Flush()
}

// condition is the part of a status condition describe shows; every kind's
// conditions have these fields.
type condition struct {
	Type, Status, Reason, Message string
}

// conditions reads status.conditions of any kind.
func conditions(obj api.Object) []condition {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil
	}
	var o struct {
		Status struct {
			Conditions []condition `json:"conditions"`
		} `json:"status"`
	}
	if json.Unmarshal(b, &o) != nil {
		return nil
	}
	return o.Status.Conditions
}

func keyValues(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return strings.Join(out, ",")
}

// titleCase turns a column name into a field name: "UP-TO-DATE" -> "Up-to-date".
func titleCase(col string) string {
	s := strings.ToLower(col)
	return strings.ToUpper(s[:1]) + s[1:]
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
