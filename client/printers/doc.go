// Package printers prints objects, sync status, sync history and a
// Deployment's revisions the way kubectl prints objects: aligned tables
// with kubectl's columns per kind (with -o wide extras), ages like "5m3s",
// "4h", "3d", "<none>" for empty cells, and -o yaml, -o json and -o name.
// Objects synced from Git get a COMMIT column (short SHA) and, with -o wide,
// a SOURCE column (file:line). Time is an input: ages are computed against
// Options.Now.
//
// The columns and cells of each kind come from package api/table, which the
// apiserver also uses to answer kubectl's requests for server-side tables;
// WriteTable prints such a table aligned.
//
// Usage:
//
//	err := printers.Print(os.Stdout, r, objs, printers.Options{
//		Format:        printers.FormatWide, // "", "wide", "yaml", "json", "name"
//		AllNamespaces: true,
//		Now:           time.Now(),
//	})
//	err = printers.PrintStatus(os.Stdout, st, time.Now())
//	err = printers.PrintHistory(os.Stdout, attempts, time.Now())
//	err = printers.PrintRevisions(os.Stdout, revs, time.Now()) // from rollout.Revisions
package printers
