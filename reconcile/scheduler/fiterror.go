package scheduler

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// FitError says why a pod fits no node: how many nodes there are and, per
// reason, on how many nodes it was refused for that reason.
type FitError struct {
	// NumAllNodes is the number of nodes the scheduler knew of.
	NumAllNodes int
	// Reasons counts the nodes refused per reason, worded as kube-scheduler words
	// them (see the Reason constants; taints read "node(s) had untolerated taint
	// {key: value}"). A node refused for several resources counts once per reason.
	Reasons map[string]int
	// PreFilterMsg, when set, says why the pod fits no node whatever the node
	// (a claim that does not exist, ...), as kube-scheduler's PreFilter
	// plugins say it.
	PreFilterMsg string
}

// Error returns Kubernetes' message, e.g. "0/3 nodes are available: 1 node(s)
// didn't match Pod's node affinity/selector, 2 Insufficient cpu." The "count
// reason" items are sorted as strings, as kube-scheduler sorts them. With no
// nodes at all it reads "no nodes available to schedule pods", kube-scheduler's
// message for that case.
func (f *FitError) Error() string {
	if f.NumAllNodes == 0 {
		return "no nodes available to schedule pods"
	}
	items := make([]string, 0, len(f.Reasons))
	for r, n := range f.Reasons {
		items = append(items, strconv.Itoa(n)+" "+r)
	}
	sort.Strings(items)
	msg := fmt.Sprintf("0/%d nodes are available:", f.NumAllNodes)
	if f.PreFilterMsg != "" {
		msg += " " + f.PreFilterMsg + "."
	}
	if len(items) > 0 {
		msg += " " + strings.Join(items, ", ") + "."
	}
	return msg
}

// fitError builds the FitError of a failed attempt over numNodes nodes.
func (d *diagnosis) fitError(numNodes int) *FitError {
	f := &FitError{NumAllNodes: numNodes, Reasons: make(map[string]int)}
	for r, n := range d.counts {
		if n > 0 {
			f.Reasons[reasonText[r]] += n
		}
	}
	for t, n := range d.taints {
		f.Reasons[fmt.Sprintf(reasonUntoleratedTaint, t.key, t.value)] += n
	}
	return f
}
