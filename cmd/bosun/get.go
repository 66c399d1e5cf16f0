package main

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/api/table"
	"github.com/bosun-dev/bosun/client/printers"
)

// allResources are the kinds "bosun get all" lists, as kubectl's "all".
var allResources = []string{"pods", "services", "deployments", "replicasets", "replicationcontrollers"}

func newGetCommand(g *globalOptions) *cobra.Command {
	var (
		namespace     string
		allNamespaces bool
		output        string
		selector      string
		noHeaders     bool
	)
	cmd := &cobra.Command{
		Use:   "get KIND[,KIND...] [NAME...] | KIND/NAME",
		Short: "List or show objects, as kubectl get does",
		Long: `get lists objects of one or more kinds, or shows named ones.

Kinds take kubectl's names: plural, singular or short (deploy, rs, rc, svc,
po, cm, secret, ns, ep, no, lease, ev), several separated by commas, or
"all" (pods, services, deployments, replicasets, replicationcontrollers).
Objects synced from Git show the commit that last changed them (COMMIT);
-o wide adds the file and line they come from (SOURCE).

Examples:
  bosun get deploy -A
  bosun get all -n demo
  bosun get svc hello -n demo -o yaml
  bosun get deploy/hello -n demo -o json
  bosun get pods -l app=hello -o wide`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kinds, names, err := parseGetArgs(args)
			if err != nil {
				return err
			}
			if len(names) > 0 && selector != "" {
				return fmt.Errorf("get: give names or a label selector (-l), not both")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ns := namespace
			if allNamespaces {
				ns = ""
			}
			opts := printers.Options{Format: output, Now: time.Now(), AllNamespaces: allNamespaces, Namespace: namespace, NoHeaders: noHeaders}
			out := cmd.OutOrStdout()
			printed := 0
			for _, r := range kinds {
				rns := ns
				if !r.Namespaced {
					rns = ""
				}
				var objs []api.Object
				if len(names) > 0 {
					for _, name := range names {
						o, err := c.Get(cmd.Context(), r, rns, name)
						if err != nil {
							return err
						}
						objs = append(objs, o)
					}
				} else {
					objs, err = c.List(cmd.Context(), r, rns, selector)
					if err != nil {
						return err
					}
				}
				if len(objs) == 0 && len(kinds) > 1 {
					continue // kubectl prints nothing for empty kinds of several
				}
				var buf bytes.Buffer
				if len(kinds) > 1 && (output == "" || output == "wide") {
					// Several kinds: name each row kind/name, as kubectl does.
					t := table.For(r, objs, table.Options{Now: opts.Now, AllNamespaces: allNamespaces})
					prefixNames(t, r)
					if err := printers.WriteTable(&buf, t, output == "wide", noHeaders); err != nil {
						return err
					}
				} else if err := printers.Print(&buf, r, objs, opts); err != nil {
					return err
				}
				if printed > 0 && (output == "" || output == "wide") {
					fmt.Fprintln(out)
				}
				_, _ = buf.WriteTo(out)
				printed++
			}
			if printed == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), printers.NoResourcesMessage(kinds[0], namespace, allNamespaces))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace to look in")
	f.BoolVarP(&allNamespaces, "all-namespaces", "A", false, "look in every namespace")
	f.StringVarP(&output, "output", "o", "", "output format: wide, yaml, json or name (default: a table)")
	f.StringVarP(&selector, "selector", "l", "", "label selector, e.g. app=hello,tier!=db")
	f.BoolVar(&noHeaders, "no-headers", false, "leave out the table header")
	return cmd
}

// prefixNames writes the NAME cells of t as kind/name ("deployment.apps/web").
func prefixNames(t table.Table, r api.Resource) {
	kind := r.Singular
	if r.Group != "" {
		kind += "." + r.Group
	}
	for i, c := range t.Columns {
		if c.Name != "NAME" {
			continue
		}
		for _, row := range t.Rows {
			row[i] = kind + "/" + row[i]
		}
	}
}

// parseGetArgs turns "deploy,svc a b" or "deploy/a" into resources and
// names.
func parseGetArgs(args []string) ([]api.Resource, []string, error) {
	first := args[0]
	var names []string
	if kind, name, ok := strings.Cut(first, "/"); ok {
		if len(args) > 1 {
			return nil, nil, fmt.Errorf("get: give either KIND/NAME or KIND NAME..., not both")
		}
		first, names = kind, []string{name}
	} else {
		names = args[1:]
	}
	var kinds []api.Resource
	for _, k := range strings.Split(first, ",") {
		if k == "all" {
			for _, a := range allResources {
				r, _ := api.Lookup(a)
				kinds = append(kinds, r)
			}
			continue
		}
		r, ok := api.Lookup(k)
		if !ok {
			return nil, nil, fmt.Errorf("get: unknown kind %q; known kinds: %s", k, knownKinds())
		}
		kinds = append(kinds, r)
	}
	if len(names) > 0 && len(kinds) > 1 {
		return nil, nil, fmt.Errorf("get: names need exactly one kind")
	}
	return kinds, names, nil
}

func knownKinds() string {
	var ks []string
	for _, r := range api.Resources() {
		k := r.Name
		if len(r.ShortNames) > 0 {
			k += " (" + strings.Join(r.ShortNames, ", ") + ")"
		}
		ks = append(ks, k)
	}
	return strings.Join(ks, ", ")
}
