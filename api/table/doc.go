// Package table lays objects out as the rows and columns kubectl prints for
// their kind: READY, UP-TO-DATE and AVAILABLE for Deployments, STATUS and
// RESTARTS for pods (following kubectl's rules), PORT(S) for Services, and
// so on (workloads.go: DaemonSets, StatefulSets, ControllerRevisions, Jobs
// with kubectl 1.28's STATUS, CronJobs, HPAs with TARGETS like
// "cpu: 40%/50%", claims, volumes, ServiceAccounts, ResourceQuotas and
// LimitRanges), with ages like "5m3s", "4h", "3d" and "<none>" for empty cells.
// Objects of the kinds a Git repository defines get a COMMIT column (short
// SHA) and a wide SOURCE column (file:line).
//
// It is shared by the two places that print objects: the apiserver turns a
// Table into the meta.k8s.io/v1 Table kubectl asks for (server-side
// printing), and client/printers writes it aligned for "bosun get". It does
// no I/O and depends only on package api and the Kubernetes types. Time is an
// input: ages are computed against Options.Now.
//
//	t := table.For(r, objs, table.Options{Now: time.Now(), AllNamespaces: true})
//	for i, c := range t.Columns {
//		if !c.Wide { fmt.Println(c.Name, t.Rows[0][i]) }
//	}
package table
