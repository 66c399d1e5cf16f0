package table

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-dev/bosun/api"
)

// none is what kubectl prints for an empty cell.
const none = "<none>"

// Column is one column of a table.
type Column struct {
	// Name is the header, e.g. "READY".
	Name string
	// Wide columns are only printed with -o wide (kube-apiserver's priority 1).
	Wide bool
}

// Table is objects laid out as rows of cells, one cell per column.
type Table struct {
	Columns []Column
	Rows    [][]string
}

// Options selects the columns of a table.
type Options struct {
	// Now is the time ages are computed against.
	Now time.Time
	// AllNamespaces adds a NAMESPACE first column (namespaced resources only).
	AllNamespaces bool
}

// shortSHALen is how many characters of a commit the COMMIT column shows,
// as "bosun history" and "bosun status" abbreviate commits.
const shortSHALen = 8

// gitKind reports the kinds a Git repository may define: their tables have a
// COMMIT column and a wide SOURCE column.
func gitKind(r api.Resource) bool {
	switch r.Group + "/" + r.Kind {
	case "/Pod", "/ReplicationController", "/Service", "/ConfigMap", "/Secret", "/Namespace",
		"apps/ReplicaSet", "apps/Deployment", "policy/PodDisruptionBudget":
		return true
	}
	return workloadGitKind(r)
}

// kindPrinter knows the columns of one kind: those between NAME and AGE
// (mid), after AGE (post, e.g. VERSION of nodes) and the -o wide ones, and
// how to fill them for one object.
type kindPrinter struct {
	mid, post, wide []string
	row             func(obj api.Object, now time.Time) (mid, post, wide []string)
	// noAge leaves out the AGE column (kubectl's LimitRange table has none).
	noAge bool
}

func printerFor(r api.Resource) kindPrinter {
	switch r.Group + "/" + r.Kind {
	case "apps/Deployment":
		return kindPrinter{
			mid:  []string{"READY", "UP-TO-DATE", "AVAILABLE"},
			wide: []string{"CONTAINERS", "IMAGES", "SELECTOR"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				d, ok := o.(*appsv1.Deployment)
				if !ok {
					return nil, nil, nil
				}
				return []string{
						fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
						itoa(d.Status.UpdatedReplicas), itoa(d.Status.AvailableReplicas),
					}, nil,
					append(containerCells(d.Spec.Template.Spec.Containers), labelSelector(d.Spec.Selector))
			},
		}
	case "apps/ReplicaSet":
		return kindPrinter{
			mid:  []string{"DESIRED", "CURRENT", "READY"},
			wide: []string{"CONTAINERS", "IMAGES", "SELECTOR"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				rs, ok := o.(*appsv1.ReplicaSet)
				if !ok {
					return nil, nil, nil
				}
				return []string{itoa(replicas(rs.Spec.Replicas)), itoa(rs.Status.Replicas), itoa(rs.Status.ReadyReplicas)}, nil,
					append(containerCells(rs.Spec.Template.Spec.Containers), labelSelector(rs.Spec.Selector))
			},
		}
	case "/ReplicationController":
		return kindPrinter{
			mid:  []string{"DESIRED", "CURRENT", "READY"},
			wide: []string{"CONTAINERS", "IMAGES", "SELECTOR"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				rc, ok := o.(*corev1.ReplicationController)
				if !ok {
					return nil, nil, nil
				}
				var cs []corev1.Container
				if rc.Spec.Template != nil {
					cs = rc.Spec.Template.Spec.Containers
				}
				return []string{itoa(replicas(rc.Spec.Replicas)), itoa(rc.Status.Replicas), itoa(rc.Status.ReadyReplicas)}, nil,
					append(containerCells(cs), labelMap(rc.Spec.Selector))
			},
		}
	case "/Pod":
		return kindPrinter{
			mid:  []string{"READY", "STATUS", "RESTARTS"},
			wide: []string{"IP", "NODE"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				p, ok := o.(*corev1.Pod)
				if !ok {
					return nil, nil, nil
				}
				ready, status, restarts := podStatus(p)
				return []string{ready, status, itoa(restarts)}, nil,
					[]string{orNone(p.Status.PodIP), orNone(p.Spec.NodeName)}
			},
		}
	case "/Service":
		return kindPrinter{
			mid:  []string{"TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"},
			wide: []string{"SELECTOR"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				s, ok := o.(*corev1.Service)
				if !ok {
					return nil, nil, nil
				}
				typ := s.Spec.Type
				if typ == "" {
					typ = corev1.ServiceTypeClusterIP
				}
				return []string{string(typ), orNone(s.Spec.ClusterIP), externalIP(s), servicePorts(s.Spec.Ports)}, nil,
					[]string{labelMap(s.Spec.Selector)}
			},
		}
	case "/ConfigMap":
		return kindPrinter{
			mid: []string{"DATA"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				c, ok := o.(*corev1.ConfigMap)
				if !ok {
					return nil, nil, nil
				}
				return []string{strconv.Itoa(len(c.Data) + len(c.BinaryData))}, nil, nil
			},
		}
	case "/Secret":
		return kindPrinter{
			mid: []string{"TYPE", "DATA"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				s, ok := o.(*corev1.Secret)
				if !ok {
					return nil, nil, nil
				}
				n := len(s.Data)
				for k := range s.StringData {
					if _, dup := s.Data[k]; !dup {
						n++
					}
				}
				typ := s.Type
				if typ == "" {
					typ = corev1.SecretTypeOpaque
				}
				return []string{string(typ), strconv.Itoa(n)}, nil, nil
			},
		}
	case "/Namespace":
		return kindPrinter{
			mid: []string{"STATUS"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				ns, ok := o.(*corev1.Namespace)
				if !ok {
					return nil, nil, nil
				}
				phase := ns.Status.Phase
				if phase == "" {
					// Kubernetes defaults an unset phase to Active.
					phase = corev1.NamespaceActive
				}
				return []string{string(phase)}, nil, nil
			},
		}
	case "/Endpoints":
		return kindPrinter{
			mid: []string{"ENDPOINTS"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				e, ok := o.(*corev1.Endpoints) //nolint:staticcheck // bosun serves core/v1 Endpoints.
				if !ok {
					return nil, nil, nil
				}
				return []string{endpoints(e.Subsets)}, nil, nil //nolint:staticcheck
			},
		}
	case "discovery.k8s.io/EndpointSlice":
		return kindPrinter{
			mid: []string{"ADDRESSTYPE", "PORTS", "ENDPOINTS"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				es, ok := o.(*discoveryv1.EndpointSlice)
				if !ok {
					return nil, nil, nil
				}
				return []string{string(es.AddressType), slicePorts(es.Ports), sliceEndpoints(es.Endpoints)}, nil, nil
			},
		}
	case "policy/PodDisruptionBudget":
		return kindPrinter{
			mid: []string{"MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				p, ok := o.(*policyv1.PodDisruptionBudget)
				if !ok {
					return nil, nil, nil
				}
				return []string{intOrNA(p.Spec.MinAvailable), intOrNA(p.Spec.MaxUnavailable), itoa(p.Status.DisruptionsAllowed)}, nil, nil
			},
		}
	case "/Node":
		return kindPrinter{
			mid:  []string{"STATUS", "ROLES"},
			post: []string{"VERSION"},
			wide: []string{"INTERNAL-IP", "OS-IMAGE", "CONTAINER-RUNTIME"},
			row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
				n, ok := o.(*corev1.Node)
				if !ok {
					return nil, nil, nil
				}
				ip := none
				for _, a := range n.Status.Addresses {
					if a.Type == corev1.NodeInternalIP {
						ip = a.Address
						break
					}
				}
				return []string{nodeStatus(n), nodeRoles(n.Labels)}, []string{orNone(n.Status.NodeInfo.KubeletVersion)},
					[]string{ip, orNone(n.Status.NodeInfo.OSImage), orNone(n.Status.NodeInfo.ContainerRuntimeVersion)}
			},
		}
	}
	if kp, ok := workloadPrinter(r); ok {
		return kp
	}
	return kindPrinter{row: func(api.Object, time.Time) ([]string, []string, []string) { return nil, nil, nil }}
}

// For lays objs (all of resource r) out as kubectl does for their kind,
// with every column, wide ones included (marked Wide).
func For(r api.Resource, objs []api.Object, opts Options) Table {
	if r.Kind == "Event" && (r.Group == "" || r.Group == "events.k8s.io") {
		return eventTable(objs, opts)
	}
	kp := printerFor(r)
	git := gitKind(r)
	nsCol := opts.AllNamespaces && r.Namespaced
	var t Table
	add := func(wide bool, names ...string) {
		for _, n := range names {
			t.Columns = append(t.Columns, Column{Name: n, Wide: wide})
		}
	}
	if nsCol {
		add(false, "NAMESPACE")
	}
	add(false, "NAME")
	add(false, kp.mid...)
	if !kp.noAge {
		add(false, "AGE")
	}
	add(false, kp.post...)
	if git {
		add(false, "COMMIT")
	}
	add(true, kp.wide...)
	if git {
		add(true, "SOURCE")
	}
	for _, o := range objs {
		mid, post, wide := kp.row(o, opts.Now)
		mid, post, wide = pad(mid, len(kp.mid)), pad(post, len(kp.post)), pad(wide, len(kp.wide))
		var row []string
		if nsCol {
			row = append(row, o.GetNamespace())
		}
		row = append(row, o.GetName())
		row = append(row, mid...)
		if !kp.noAge {
			row = append(row, Age(o.GetCreationTimestamp(), opts.Now))
		}
		row = append(row, post...)
		ann := o.GetAnnotations()
		if git {
			row = append(row, orNone(shortSHA(ann[api.AnnotationCommit])))
		}
		row = append(row, wide...)
		if git {
			row = append(row, orNone(ann[api.AnnotationSource]))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// pad makes cells n long, filling with <unknown> (an object of an
// unexpected Go type).
func pad(cells []string, n int) []string {
	for len(cells) < n {
		cells = append(cells, "<unknown>")
	}
	return cells[:n]
}

// shortSHA abbreviates a commit SHA to shortSHALen characters.
func shortSHA(sha string) string {
	if len(sha) > shortSHALen {
		return sha[:shortSHALen]
	}
	return sha
}

// Age prints the time since t as kubectl does ("5m3s", "4h", "3d"), or
// "<unknown>" for a zero time.
func Age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// intOrNA prints an optional int-or-percent as kubectl's PDB columns do:
// the value, or N/A when unset.
func intOrNA(v *intstr.IntOrString) string {
	if v == nil {
		return "N/A"
	}
	return v.String()
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

func containerCells(cs []corev1.Container) []string {
	names := make([]string, 0, len(cs))
	images := make([]string, 0, len(cs))
	for _, c := range cs {
		names = append(names, c.Name)
		images = append(images, c.Image)
	}
	return []string{orNone(strings.Join(names, ",")), orNone(strings.Join(images, ","))}
}

func labelSelector(sel *metav1.LabelSelector) string {
	if sel == nil {
		return none
	}
	return metav1.FormatLabelSelector(sel)
}

func labelMap(m map[string]string) string {
	if len(m) == 0 {
		return none
	}
	return labels.FormatLabels(m)
}

// podStatus returns the READY column, the STATUS column and the restarts
// of a pod, following kubectl's printPod (1.29+): sidecars (init
// containers with restartPolicy Always) count among the containers, init
// containers show as Init:N/M, Init:<reason>, and a deleted pod that is not
// terminal as Terminating.
func podStatus(p *corev1.Pod) (ready string, reason string, restarts int32) {
	reason = string(p.Status.Phase)
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			reason = corev1.PodReasonSchedulingGated
		}
	}
	total, readyN := len(p.Spec.Containers), 0
	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			total++
		}
	}
	var sidecarRestarts int32
	initializing := false
	for i, c := range p.Status.InitContainerStatuses {
		restarts += c.RestartCount
		if sidecars[c.Name] {
			sidecarRestarts += c.RestartCount
		}
		switch {
		case c.State.Terminated != nil && c.State.Terminated.ExitCode == 0:
			continue
		case sidecars[c.Name] && c.Started != nil && *c.Started:
			if c.Ready {
				readyN++
			}
			continue
		case c.State.Terminated != nil:
			reason = "Init:" + terminatedReason(c.State.Terminated)
		case c.State.Waiting != nil && c.State.Waiting.Reason != "" && c.State.Waiting.Reason != "PodInitializing":
			reason = "Init:" + c.State.Waiting.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
		}
		initializing = true
		break
	}
	if !initializing || podInitialized(p) {
		restarts = sidecarRestarts
		hasRunning := false
		for i := len(p.Status.ContainerStatuses) - 1; i >= 0; i-- {
			c := p.Status.ContainerStatuses[i]
			restarts += c.RestartCount
			switch {
			case c.State.Waiting != nil && c.State.Waiting.Reason != "":
				reason = c.State.Waiting.Reason
			case c.State.Terminated != nil:
				reason = terminatedReason(c.State.Terminated)
			case c.Ready && c.State.Running != nil:
				hasRunning = true
				readyN++
			}
		}
		if reason == "Completed" && hasRunning {
			reason = string(corev1.PodRunning)
			if !podReady(p) {
				reason = "NotReady"
			}
		}
	}
	switch {
	case p.DeletionTimestamp != nil && p.Status.Reason == "NodeLost":
		reason = string(corev1.PodUnknown)
	case p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed:
		reason = "Terminating"
	}
	if reason == "" {
		reason = string(corev1.PodPending)
	}
	return fmt.Sprintf("%d/%d", readyN, total), reason, restarts
}

func podInitialized(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodInitialized {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func terminatedReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	default:
		return fmt.Sprintf("ExitCode:%d", t.ExitCode)
	}
}

func externalIP(s *corev1.Service) string {
	switch s.Spec.Type {
	case corev1.ServiceTypeExternalName:
		return orNone(s.Spec.ExternalName)
	case corev1.ServiceTypeLoadBalancer:
		var ips []string
		for _, in := range s.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				ips = append(ips, in.IP)
			} else if in.Hostname != "" {
				ips = append(ips, in.Hostname)
			}
		}
		ips = append(ips, s.Spec.ExternalIPs...)
		if len(ips) == 0 {
			return "<pending>"
		}
		return strings.Join(ips, ",")
	default:
		return orNone(strings.Join(s.Spec.ExternalIPs, ","))
	}
}

// servicePorts prints ports as kubectl does: "80/TCP", "80:30080/TCP".
func servicePorts(ports []corev1.ServicePort) string {
	if len(ports) == 0 {
		return none
	}
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		if p.NodePort != 0 {
			out = append(out, fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, proto))
		} else {
			out = append(out, fmt.Sprintf("%d/%s", p.Port, proto))
		}
	}
	return strings.Join(out, ",")
}

// maxEndpoints is how many endpoints kubectl lists before "+ N more...".
const maxEndpoints = 3

//nolint:staticcheck // bosun serves core/v1 Endpoints.
func endpoints(subsets []corev1.EndpointSubset) string {
	var list []string
	total := 0
	for _, ss := range subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				total++
				if len(list) < maxEndpoints {
					list = append(list, a.IP)
				}
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				total++
				if len(list) < maxEndpoints {
					list = append(list, fmt.Sprintf("%s:%d", a.IP, p.Port))
				}
			}
		}
	}
	if total == 0 {
		return none
	}
	return withMore(list, total)
}

// withMore joins list with commas and, when total is larger, says how many
// more there are, as kubectl does: "a,b,c + 2 more...".
func withMore(list []string, total int) string {
	s := strings.Join(list, ",")
	if total > len(list) {
		s += fmt.Sprintf(" + %d more...", total-len(list))
	}
	return s
}

// unset is what kubectl prints for an EndpointSlice without ports or
// endpoints.
const unset = "<unset>"

// slicePorts prints an EndpointSlice's ports as kubectl does: the numbers,
// the first maxEndpoints of them, and how many more.
func slicePorts(ports []discoveryv1.EndpointPort) string {
	if len(ports) == 0 {
		return unset
	}
	var list []string
	for _, p := range ports {
		if len(list) == maxEndpoints {
			break
		}
		if p.Port == nil {
			list = append(list, unset)
		} else {
			list = append(list, strconv.Itoa(int(*p.Port)))
		}
	}
	return withMore(list, len(ports))
}

// sliceEndpoints prints an EndpointSlice's addresses as kubectl does: the
// first maxEndpoints, and how many more.
func sliceEndpoints(eps []discoveryv1.Endpoint) string {
	var list []string
	total := 0
	for _, e := range eps {
		for _, a := range e.Addresses {
			total++
			if len(list) < maxEndpoints {
				list = append(list, a)
			}
		}
	}
	if total == 0 {
		return unset
	}
	return withMore(list, total)
}

func nodeStatus(n *corev1.Node) string {
	status := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			status = "Ready"
		} else {
			status = "NotReady"
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

func nodeRoles(l map[string]string) string {
	var roles []string
	for k, v := range l {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if role := strings.TrimPrefix(k, "node-role.kubernetes.io/"); role != "" {
				roles = append(roles, role)
			}
		case k == "kubernetes.io/role" && v != "":
			roles = append(roles, v)
		}
	}
	if len(roles) == 0 {
		return none
	}
	sort.Strings(roles)
	return strings.Join(roles, ",")
}

// eventTable lays Events out as kubectl does: no NAME column first, but
// when it was last seen, its type, reason, object and message.
func eventTable(objs []api.Object, opts Options) Table {
	var t Table
	if opts.AllNamespaces {
		t.Columns = append(t.Columns, Column{Name: "NAMESPACE"})
	}
	for _, n := range []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"} {
		t.Columns = append(t.Columns, Column{Name: n})
	}
	for _, n := range []string{"SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT", "NAME"} {
		t.Columns = append(t.Columns, Column{Name: n, Wide: true})
	}
	for _, o := range objs {
		ev, ok := o.(*corev1.Event)
		if e, isV1 := o.(*eventsv1.Event); isV1 {
			ev, ok = api.CoreEvent(e), true
		}
		if !ok {
			continue
		}
		var row []string
		if opts.AllNamespaces {
			row = append(row, ev.Namespace)
		}
		last, first := ev.LastTimestamp, ev.FirstTimestamp
		if last.IsZero() {
			last = metav1.NewTime(ev.EventTime.Time)
		}
		if first.IsZero() {
			first = last
		}
		count := ev.Count
		if ev.Series != nil {
			count = ev.Series.Count
		}
		source := ev.Source.Component
		if ev.Source.Host != "" {
			source += ", " + ev.Source.Host
		}
		if source == "" {
			source = ev.ReportingController
		}
		row = append(row,
			Age(last, opts.Now), ev.Type, ev.Reason,
			strings.ToLower(ev.InvolvedObject.Kind)+"/"+ev.InvolvedObject.Name, ev.Message,
			ev.InvolvedObject.FieldPath, source, Age(first, opts.Now), itoa(max(count, 1)), ev.Name)
		t.Rows = append(t.Rows, row)
	}
	return t
}
