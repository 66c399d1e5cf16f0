package scheduler

import (
	"maps"
	"math/rand/v2"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Score weights of the plugins, as in kube-scheduler's default profile
// (NodeResourcesFit 1, NodeResourcesBalancedAllocation 1, spreading 2 as
// PodTopologySpread's default weight).
const (
	weightLeastAllocated = 1
	weightBalanced       = 1
	weightSpread         = 2
	maxNodeScore         = 100
)

// Limits of kube-scheduler's percentageOfNodesToScore.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// nodeInfo is one node as the algorithm sees it: what the node offers and the
// aggregate of the pods counted on it.
type nodeInfo struct {
	name   string
	labels map[string]string
	// present is false for a node deleted (or not yet seen) that still has pods
	// counted on it; such a node is not in Snapshot.list.
	present       bool
	idx           int // position in Snapshot.list when present
	ready         bool
	readyUnknown  bool
	unschedulable bool
	taints        []corev1.Taint // NoSchedule and NoExecute only

	allocCPU, allocMem, allocPods int64

	pods         int64
	reqCPU       int64 // sum of pod requests (millicores)
	reqMem       int64
	nzCPU, nzMem int64 // the same with non-zero defaults, for scoring
	ports        []hostPort
	owners       map[types.UID]int32 // pods per controller owner
}

func (n *nodeInfo) portTaken(p hostPort) bool {
	for _, q := range n.ports {
		if q.conflicts(p) {
			return true
		}
	}
	return false
}

func (n *nodeInfo) add(pr *podReq, sign int64) {
	n.pods += sign
	n.reqCPU += sign * pr.cpu
	n.reqMem += sign * pr.mem
	n.nzCPU += sign * pr.nzCPU
	n.nzMem += sign * pr.nzMem
	if sign > 0 {
		n.ports = append(n.ports, pr.ports...)
	} else {
		for _, p := range pr.ports {
			for i, q := range n.ports {
				if q == p {
					n.ports = append(n.ports[:i], n.ports[i+1:]...)
					break
				}
			}
		}
	}
	if pr.owner != "" {
		if n.owners == nil {
			n.owners = make(map[types.UID]int32)
		}
		c := n.owners[pr.owner] + int32(sign)
		if c <= 0 {
			delete(n.owners, pr.owner)
		} else {
			n.owners[pr.owner] = c
		}
	}
}

// podState is a pod counted on a node.
type podState struct {
	node    *nodeInfo
	req     podReq
	assumed bool // placed by this scheduler, not yet seen bound by the informer
}

// SnapshotOptions configures a Snapshot.
type SnapshotOptions struct {
	// PercentageOfNodesToScore is the share of nodes (in percent) searched for
	// feasible nodes before scoring, as kube-scheduler's option of that name:
	// 0 means adaptive (50% minus 1% per 125 nodes, at least 5%); at least 100
	// nodes are always searched; 100 searches all.
	PercentageOfNodesToScore int32
	// Rand breaks ties between nodes of equal score. Nil means a fixed seed of 0.
	Rand *rand.Rand
}

// Snapshot is the scheduler's view of the cluster: every node with the
// aggregate requests, pod count, host ports and per-controller pod counts of the
// pods on it, kept incrementally from informer events (SetNode, RemoveNode,
// SetPod, RemovePod) and from the scheduler's own decisions (Assume, Forget).
// Schedule picks a node for a pod. All methods are safe for concurrent use; none
// of them keeps or changes the objects passed in.
type Snapshot struct {
	mu       sync.Mutex
	pct      int32
	rnd      *rand.Rand
	byName   map[string]*nodeInfo
	list     []*nodeInfo // present nodes, iterated round robin
	pods     map[types.UID]*podState
	next     int // where the next search starts in list
	diag     diagnosis
	feasible []*nodeInfo
	counts   []int32
}

// NewSnapshot returns an empty Snapshot.
func NewSnapshot(opts SnapshotOptions) *Snapshot {
	r := opts.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(0, 0))
	}
	return &Snapshot{
		pct:    opts.PercentageOfNodesToScore,
		rnd:    r,
		byName: make(map[string]*nodeInfo),
		pods:   make(map[types.UID]*podState),
	}
}

// NumNodes returns the number of nodes known (deleted nodes not counted).
func (s *Snapshot) NumNodes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.list)
}

// NumPods returns the number of pods counted on nodes, assumed ones included.
func (s *Snapshot) NumPods() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pods)
}

// SetNode adds a node or updates what it offers: labels, readiness,
// unschedulable, taints and allocatable cpu, memory and pods.
func (s *Snapshot) SetNode(node *corev1.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.byName[node.Name]
	if n == nil {
		n = &nodeInfo{name: node.Name}
		s.byName[node.Name] = n
	}
	if !n.present {
		n.present = true
		n.idx = len(s.list)
		s.list = append(s.list, n)
	}
	n.labels = maps.Clone(node.Labels)
	n.unschedulable = node.Spec.Unschedulable
	n.ready, n.readyUnknown = false, true
	for i := range node.Status.Conditions {
		if c := &node.Status.Conditions[i]; c.Type == corev1.NodeReady {
			n.ready = c.Status == corev1.ConditionTrue
			n.readyUnknown = c.Status == corev1.ConditionUnknown
		}
	}
	n.taints = n.taints[:0]
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			n.taints = append(n.taints, t)
		}
	}
	a := node.Status.Allocatable
	if a == nil {
		a = node.Status.Capacity
	}
	n.allocCPU, n.allocMem, n.allocPods = 0, 0, 0
	if q, ok := a[corev1.ResourceCPU]; ok {
		n.allocCPU = q.MilliValue()
	}
	if q, ok := a[corev1.ResourceMemory]; ok {
		n.allocMem = q.Value()
	}
	if q, ok := a[corev1.ResourcePods]; ok {
		n.allocPods = q.Value()
	}
}

// RemoveNode forgets a node. Pods still counted on it stay counted, so that a
// node coming back under the same name finds them.
func (s *Snapshot) RemoveNode(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.byName[name]
	if n == nil || !n.present {
		return
	}
	last := s.list[len(s.list)-1]
	s.list[n.idx] = last
	last.idx = n.idx
	s.list[len(s.list)-1] = nil
	s.list = s.list[:len(s.list)-1]
	n.present = false
	if n.pods == 0 {
		delete(s.byName, name)
	}
}

// nodeFor returns the info of a node by name, creating a placeholder (not
// present) for a node not seen yet.
func (s *Snapshot) nodeFor(name string) *nodeInfo {
	n := s.byName[name]
	if n == nil {
		n = &nodeInfo{name: name}
		s.byName[name] = n
	}
	return n
}

// SetPod records a pod as the informer reports it: a pod bound to a node and
// not terminated counts on that node (confirming an assumed placement); a
// terminated pod is removed. Pods without a node are ignored, so an informer
// that lags behind a binding never undoes an assumption.
func (s *Snapshot) SetPod(pod *corev1.Pod) {
	if pod.Spec.NodeName == "" {
		return
	}
	if terminal(pod) {
		s.RemovePod(pod)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := podKey(pod)
	pr := newPodReq(pod)
	if ps := s.pods[key]; ps != nil {
		if ps.node.name == pod.Spec.NodeName && sameReq(&ps.req, &pr) {
			ps.assumed = false
			return
		}
		s.removeLocked(key, ps)
	}
	s.addLocked(key, pod.Spec.NodeName, pr, false)
}

func sameReq(a, b *podReq) bool {
	if a.cpu != b.cpu || a.mem != b.mem || a.nzCPU != b.nzCPU || a.nzMem != b.nzMem ||
		a.owner != b.owner || len(a.ports) != len(b.ports) {
		return false
	}
	for i := range a.ports {
		if a.ports[i] != b.ports[i] {
			return false
		}
	}
	return true
}

// RemovePod stops counting a pod (deleted, or terminated).
func (s *Snapshot) RemovePod(pod *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := podKey(pod)
	if ps := s.pods[key]; ps != nil {
		s.removeLocked(key, ps)
	}
}

// Assume counts pod on node nodeName before the binding is written, so the next
// decisions see it. A later SetPod with the pod bound confirms it; Forget undoes it.
func (s *Snapshot) Assume(pod *corev1.Pod, nodeName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := podKey(pod)
	if ps := s.pods[key]; ps != nil {
		s.removeLocked(key, ps)
	}
	s.addLocked(key, nodeName, newPodReq(pod), true)
}

// Forget undoes Assume after a failed binding. A placement the informer has
// confirmed meanwhile is kept.
func (s *Snapshot) Forget(pod *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := podKey(pod)
	if ps := s.pods[key]; ps != nil && ps.assumed {
		s.removeLocked(key, ps)
	}
}

func (s *Snapshot) addLocked(key types.UID, nodeName string, pr podReq, assumed bool) {
	n := s.nodeFor(nodeName)
	ps := &podState{node: n, req: pr, assumed: assumed}
	s.pods[key] = ps
	n.add(&ps.req, 1)
}

func (s *Snapshot) removeLocked(key types.UID, ps *podState) {
	delete(s.pods, key)
	n := ps.node
	n.add(&ps.req, -1)
	if n.pods == 0 && !n.present {
		delete(s.byName, n.name)
	}
}

// numFeasibleNodesToFind returns how many feasible nodes to find before
// scoring, as kube-scheduler computes it from percentageOfNodesToScore.
func (s *Snapshot) numFeasibleNodesToFind(numAll int) int {
	if numAll < minFeasibleNodesToFind || s.pct >= 100 {
		return numAll
	}
	pct := s.pct
	if pct <= 0 {
		pct = 50 - int32(numAll/125)
		if pct < minFeasibleNodesPercentageToFind {
			pct = minFeasibleNodesPercentageToFind
		}
	}
	n := numAll * int(pct) / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// Schedule picks the node for pod, or says with a FitError why no node fits.
// Like kube-scheduler it searches the nodes round robin, starting where the
// previous search stopped, until it has found the number of feasible nodes
// percentageOfNodesToScore asks for; it scores those (least allocated,
// balanced allocation, spreading of the pod's controller) and takes the best,
// breaking ties at random. Schedule does not count the pod anywhere: call
// Assume with the result.
func (s *Snapshot) Schedule(pod *corev1.Pod) (string, *FitError) {
	return s.ScheduleWithVolumes(pod, nil)
}

// ScheduleWithVolumes is Schedule for a pod whose bound volumes require node
// affinity: a node must also match every one of volumeAffinity (else it is
// refused with ReasonVolumeNodeAffinity).
func (s *Snapshot) ScheduleWithVolumes(pod *corev1.Pod, volumeAffinity []*corev1.NodeSelector) (string, *FitError) {
	pr := newPodReq(pod)
	s.mu.Lock()
	defer s.mu.Unlock()
	numAll := len(s.list)
	if numAll == 0 {
		return "", &FitError{}
	}
	want := s.numFeasibleNodesToFind(numAll)
	s.diag.reset()
	feasible := s.feasible[:0]
	start := s.next % numAll
	processed := 0
	for i := 0; i < numAll && len(feasible) < want; i++ {
		n := s.list[(start+i)%numAll]
		processed++
		if filter(n, pod, &pr, volumeAffinity, &s.diag) {
			feasible = append(feasible, n)
		}
	}
	s.next = (start + processed) % numAll
	s.feasible = feasible[:0]
	if len(feasible) == 0 {
		return "", s.diag.fitError(numAll)
	}
	if len(feasible) == 1 {
		return feasible[0].name, nil
	}
	best := s.pickLocked(feasible, &pr)
	return best.name, nil
}

// pickLocked scores the feasible nodes and returns the best one.
func (s *Snapshot) pickLocked(feasible []*nodeInfo, pr *podReq) *nodeInfo {
	var maxCount int32
	counts := s.counts[:0]
	if pr.owner != "" {
		for _, n := range feasible {
			c := n.owners[pr.owner]
			counts = append(counts, c)
			maxCount = max(maxCount, c)
		}
		s.counts = counts
	}
	var best *nodeInfo
	bestScore := int64(-1)
	ties := 0
	for i, n := range feasible {
		score := weightLeastAllocated*leastAllocated(n, pr) + weightBalanced*balanced(n, pr)
		if maxCount > 0 {
			score += weightSpread * int64(maxNodeScore*(maxCount-counts[i])/maxCount)
		} else {
			score += weightSpread * maxNodeScore
		}
		switch {
		case score > bestScore:
			best, bestScore, ties = n, score, 1
		case score == bestScore:
			ties++
			if s.rnd.IntN(ties) == 0 { // reservoir sampling over the ties
				best = n
			}
		}
	}
	return best
}

// leastAllocated is NodeResourcesFit's LeastAllocated score (cpu and memory,
// weight 1 each) with the pod placed on the node, using non-zero requests.
func leastAllocated(n *nodeInfo, pr *podReq) int64 {
	return (leastScore(n.nzCPU+pr.nzCPU, n.allocCPU) + leastScore(n.nzMem+pr.nzMem, n.allocMem)) / 2
}

func leastScore(requested, capacity int64) int64 {
	if capacity == 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * maxNodeScore / capacity
}

// balanced is NodeResourcesBalancedAllocation's score: 100 times one minus the
// standard deviation of the cpu and memory fractions requested with the pod
// placed (for two resources, half their difference).
func balanced(n *nodeInfo, pr *podReq) int64 {
	cf := fraction(n.reqCPU+pr.cpu, n.allocCPU)
	mf := fraction(n.reqMem+pr.mem, n.allocMem)
	d := cf - mf
	if d < 0 {
		d = -d
	}
	return int64((1 - d/2) * maxNodeScore)
}

func fraction(requested, capacity int64) float64 {
	if capacity == 0 {
		return 1
	}
	f := float64(requested) / float64(capacity)
	if f > 1 {
		return 1
	}
	return f
}
