package table

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/bosun-dev/bosun/api"
)

// unsetCell is what kubectl prints for an optional field left unset.
const unsetCell = "<unset>"

// storageClassAnnotation is the beta annotation kubectl reads a claim's or
// volume's class from before spec.storageClassName.
const storageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

// workloadPrinter returns the kubectl columns of the kinds added with
// DaemonSets, StatefulSets, Jobs, CronJobs, autoscaling, storage and
// namespace policy (k8s.io/kubernetes pkg/printers/internalversion).
func workloadPrinter(r api.Resource) (kindPrinter, bool) {
	switch r.Group + "/" + r.Kind {
	case "apps/DaemonSet":
		return daemonSetPrinter(), true
	case "apps/StatefulSet":
		return statefulSetPrinter(), true
	case "apps/ControllerRevision":
		return controllerRevisionPrinter(), true
	case "batch/Job":
		return jobPrinter(), true
	case "batch/CronJob":
		return cronJobPrinter(), true
	case "autoscaling/HorizontalPodAutoscaler":
		return hpaPrinter(), true
	case "/PersistentVolumeClaim":
		return pvcPrinter(), true
	case "/PersistentVolume":
		return pvPrinter(), true
	case "/ServiceAccount":
		return kindPrinter{mid: []string{"SECRETS"}, row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
			sa, ok := o.(*corev1.ServiceAccount)
			if !ok {
				return nil, nil, nil
			}
			return []string{fmt.Sprint(len(sa.Secrets))}, nil, nil
		}}, true
	case "/ResourceQuota":
		return quotaPrinter(), true
	case "/LimitRange":
		return kindPrinter{noAge: true, mid: []string{"CREATED AT"}, row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
			return []string{o.GetCreationTimestamp().UTC().Format(time.RFC3339)}, nil, nil
		}}, true
	}
	return kindPrinter{}, false
}

// workloadGitKinds are the kinds of workloadPrinter a Git repository may
// define.
func workloadGitKind(r api.Resource) bool {
	switch r.Group + "/" + r.Kind {
	case "apps/DaemonSet", "apps/StatefulSet", "batch/Job", "batch/CronJob", "autoscaling/HorizontalPodAutoscaler",
		"/PersistentVolumeClaim", "/PersistentVolume", "/ServiceAccount", "/ResourceQuota", "/LimitRange":
		return true
	}
	return false
}

func daemonSetPrinter() kindPrinter {
	return kindPrinter{
		mid:  []string{"DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR"},
		wide: []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
			d, ok := o.(*appsv1.DaemonSet)
			if !ok {
				return nil, nil, nil
			}
			st := d.Status
			return []string{itoa(st.DesiredNumberScheduled), itoa(st.CurrentNumberScheduled), itoa(st.NumberReady),
					itoa(st.UpdatedNumberScheduled), itoa(st.NumberAvailable), labelMap(d.Spec.Template.Spec.NodeSelector)}, nil,
				append(containerCells(d.Spec.Template.Spec.Containers), labelSelector(d.Spec.Selector))
		},
	}
}

func statefulSetPrinter() kindPrinter {
	return kindPrinter{
		mid:  []string{"READY"},
		wide: []string{"CONTAINERS", "IMAGES"},
		row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
			s, ok := o.(*appsv1.StatefulSet)
			if !ok {
				return nil, nil, nil
			}
			return []string{fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, replicas(s.Spec.Replicas))}, nil,
				containerCells(s.Spec.Template.Spec.Containers)
		},
	}
}

func controllerRevisionPrinter() kindPrinter {
	return kindPrinter{
		mid: []string{"CONTROLLER", "REVISION"},
		row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
			cr, ok := o.(*appsv1.ControllerRevision)
			if !ok {
				return nil, nil, nil
			}
			controller := none
			if ref := metav1.GetControllerOf(cr); ref != nil {
				gv, err := schema.ParseGroupVersion(ref.APIVersion)
				if err == nil {
					controller = strings.ToLower(gv.WithKind(ref.Kind).GroupKind().String()) + "/" + ref.Name
				}
			}
			return []string{controller, fmt.Sprint(cr.Revision)}, nil, nil
		},
	}
}

func jobPrinter() kindPrinter {
	return kindPrinter{
		mid:  []string{"STATUS", "COMPLETIONS", "DURATION"},
		wide: []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		row: func(o api.Object, now time.Time) ([]string, []string, []string) {
			j, ok := o.(*batchv1.Job)
			if !ok {
				return nil, nil, nil
			}
			return []string{jobStatus(j), jobCompletions(&j.Spec, &j.Status), jobDuration(&j.Status, now)}, nil,
				append(containerCells(j.Spec.Template.Spec.Containers), labelSelector(j.Spec.Selector))
		},
	}
}

// jobStatus is kubectl's (1.28 and later) STATUS of a Job.
func jobStatus(j *batchv1.Job) string {
	has := func(t batchv1.JobConditionType) bool {
		for _, c := range j.Status.Conditions {
			if c.Type == t && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}
	switch {
	case has(batchv1.JobComplete):
		return "Complete"
	case has(batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case has(batchv1.JobSuspended):
		return "Suspended"
	case has(batchv1.JobFailureTarget):
		return "FailureTarget"
	case has(batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

// jobCompletions is kubectl's COMPLETIONS: "2/3", or for a Job without
// completions "0/1" ("0/1 of 5" with parallelism 5).
func jobCompletions(s *batchv1.JobSpec, st *batchv1.JobStatus) string {
	if s.Completions != nil {
		return fmt.Sprintf("%d/%d", st.Succeeded, *s.Completions)
	}
	if s.Parallelism != nil && *s.Parallelism > 1 {
		return fmt.Sprintf("%d/1 of %d", st.Succeeded, *s.Parallelism)
	}
	return fmt.Sprintf("%d/1", st.Succeeded)
}

// jobDuration is kubectl's DURATION: from start to completion, or to now
// while it runs; empty before it starts.
func jobDuration(st *batchv1.JobStatus, now time.Time) string {
	switch {
	case st.StartTime == nil:
		return ""
	case st.CompletionTime == nil:
		return duration.HumanDuration(now.Sub(st.StartTime.Time))
	}
	return duration.HumanDuration(st.CompletionTime.Sub(st.StartTime.Time))
}

func cronJobPrinter() kindPrinter {
	return kindPrinter{
		mid:  []string{"SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE"},
		wide: []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		row: func(o api.Object, now time.Time) ([]string, []string, []string) {
			c, ok := o.(*batchv1.CronJob)
			if !ok {
				return nil, nil, nil
			}
			last := none
			if t := c.Status.LastScheduleTime; t != nil {
				last = Age(*t, now)
			}
			tz := none
			if c.Spec.TimeZone != nil {
				tz = *c.Spec.TimeZone
			}
			return []string{c.Spec.Schedule, tz, boolPtr(c.Spec.Suspend), fmt.Sprint(len(c.Status.Active)), last}, nil,
				append(containerCells(c.Spec.JobTemplate.Spec.Template.Spec.Containers), labelSelector(c.Spec.JobTemplate.Spec.Selector))
		},
	}
}

// boolPtr prints an optional bool as kubectl does: True, False or <unset>.
func boolPtr(b *bool) string {
	switch {
	case b == nil:
		return unsetCell
	case *b:
		return "True"
	}
	return "False"
}

func hpaPrinter() kindPrinter {
	return kindPrinter{
		mid: []string{"REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS"},
		row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
			h, ok := o.(*autoscalingv2.HorizontalPodAutoscaler)
			if !ok {
				return nil, nil, nil
			}
			minPods := unsetCell
			if h.Spec.MinReplicas != nil {
				minPods = itoa(*h.Spec.MinReplicas)
			}
			ref := h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name
			return []string{ref, hpaTargets(h.Spec.Metrics, h.Status.CurrentMetrics), minPods, itoa(h.Spec.MaxReplicas), itoa(h.Status.CurrentReplicas)}, nil, nil
		},
	}
}

// maxHPATargets is how many metrics kubectl's TARGETS lists before
// "+ N more...".
const maxHPATargets = 2

// hpaTargets is kubectl's TARGETS: "cpu: 40%/50%", "memory: 100Mi/200Mi",
// "<unknown>" for a value not measured yet.
func hpaTargets(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return none
	}
	list := make([]string, 0, len(specs))
	for i, s := range specs {
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		list = append(list, hpaTarget(s, st))
	}
	if len(list) > maxHPATargets {
		return strings.Join(list[:maxHPATargets], ", ") + fmt.Sprintf(" + %d more...", len(list)-maxHPATargets)
	}
	return strings.Join(list, ", ")
}

// hpaTarget prints one metric's current value against its target.
func hpaTarget(s autoscalingv2.MetricSpec, st *autoscalingv2.MetricStatus) string {
	const unknown = "<unknown>"
	current := unknown
	switch s.Type {
	case autoscalingv2.ResourceMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType:
		name, target, cur := resourceMetric(s, st)
		if target.AverageValue != nil {
			if cur != nil && cur.AverageValue != nil {
				current = cur.AverageValue.String()
			}
			return fmt.Sprintf("%s: %s/%s", name, current, target.AverageValue.String())
		}
		if cur != nil && cur.AverageUtilization != nil {
			current = fmt.Sprintf("%d%%", *cur.AverageUtilization)
		}
		want := "<auto>"
		if target.AverageUtilization != nil {
			want = fmt.Sprintf("%d%%", *target.AverageUtilization)
		}
		return fmt.Sprintf("%s: %s/%s", name, current, want)
	case autoscalingv2.PodsMetricSourceType:
		if st != nil && st.Pods != nil && st.Pods.Current.AverageValue != nil {
			current = st.Pods.Current.AverageValue.String()
		}
		return fmt.Sprintf("%s/%s", current, s.Pods.Target.AverageValue.String())
	case autoscalingv2.ObjectMetricSourceType:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.Object != nil {
			cur = &st.Object.Current
		}
		return valueTarget(s.Object.Target, cur)
	case autoscalingv2.ExternalMetricSourceType:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.External != nil {
			cur = &st.External.Current
		}
		return valueTarget(s.External.Target, cur)
	}
	return "<unknown type>"
}

// resourceMetric returns the name, target and current value of a
// Resource or ContainerResource metric.
func resourceMetric(s autoscalingv2.MetricSpec, st *autoscalingv2.MetricStatus) (corev1.ResourceName, autoscalingv2.MetricTarget, *autoscalingv2.MetricValueStatus) {
	if s.Resource != nil {
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.Resource != nil {
			cur = &st.Resource.Current
		}
		return s.Resource.Name, s.Resource.Target, cur
	}
	if s.ContainerResource != nil {
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.ContainerResource != nil {
			cur = &st.ContainerResource.Current
		}
		return s.ContainerResource.Name, s.ContainerResource.Target, cur
	}
	return "", autoscalingv2.MetricTarget{}, nil
}

// valueTarget prints an Object or External metric: "5/10 (avg)" for an
// average value target, "5/10" for a value target.
func valueTarget(t autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
	current := "<unknown>"
	if t.AverageValue != nil {
		if cur != nil && cur.AverageValue != nil {
			current = cur.AverageValue.String()
		}
		return fmt.Sprintf("%s/%s (avg)", current, t.AverageValue.String())
	}
	if cur != nil && cur.Value != nil {
		current = cur.Value.String()
	}
	return fmt.Sprintf("%s/%s", current, t.Value.String())
}

func pvcPrinter() kindPrinter {
	return kindPrinter{
		mid:  []string{"STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS"},
		wide: []string{"VOLUMEMODE"},
		row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
			c, ok := o.(*corev1.PersistentVolumeClaim)
			if !ok {
				return nil, nil, nil
			}
			phase := string(c.Status.Phase)
			if c.DeletionTimestamp != nil {
				phase = "Terminating"
			}
			capacity, modes := "", ""
			if c.Spec.VolumeName != "" {
				modes = accessModes(c.Status.AccessModes)
				q := c.Status.Capacity[corev1.ResourceStorage]
				capacity = q.String()
			}
			class := c.Annotations[storageClassAnnotation]
			if class == "" && c.Spec.StorageClassName != nil {
				class = *c.Spec.StorageClassName
			}
			return []string{phase, c.Spec.VolumeName, capacity, modes, class, strPtr(c.Spec.VolumeAttributesClassName)}, nil,
				[]string{volumeMode(c.Spec.VolumeMode)}
		},
	}
}

func pvPrinter() kindPrinter {
	return kindPrinter{
		mid:  []string{"CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON"},
		wide: []string{"VOLUMEMODE"},
		row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
			v, ok := o.(*corev1.PersistentVolume)
			if !ok {
				return nil, nil, nil
			}
			claim := ""
			if ref := v.Spec.ClaimRef; ref != nil {
				claim = ref.Namespace + "/" + ref.Name
			}
			phase := string(v.Status.Phase)
			if v.DeletionTimestamp != nil {
				phase = "Terminating"
			}
			class := v.Annotations[storageClassAnnotation]
			if class == "" {
				class = v.Spec.StorageClassName
			}
			q := v.Spec.Capacity[corev1.ResourceStorage]
			return []string{q.String(), accessModes(v.Spec.AccessModes), string(v.Spec.PersistentVolumeReclaimPolicy), phase, claim,
					class, strPtr(v.Spec.VolumeAttributesClassName), v.Status.Reason}, nil,
				[]string{volumeMode(v.Spec.VolumeMode)}
		},
	}
}

// accessModes prints access modes as kubectl does: "RWO,ROX,RWX,RWOP",
// each once, in that order.
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{{corev1.ReadWriteOnce, "RWO"}, {corev1.ReadOnlyMany, "ROX"}, {corev1.ReadWriteMany, "RWX"}, {corev1.ReadWriteOncePod, "RWOP"}} {
		for _, have := range modes {
			if have == m.mode {
				out = append(out, m.short)
				break
			}
		}
	}
	return strings.Join(out, ",")
}

func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return unsetCell
	}
	return string(*m)
}

func strPtr(s *string) string {
	if s == nil {
		return unsetCell
	}
	return *s
}

func quotaPrinter() kindPrinter {
	return kindPrinter{
		post: []string{"REQUEST", "LIMIT"},
		row: func(o api.Object, _ time.Time) ([]string, []string, []string) {
			q, ok := o.(*corev1.ResourceQuota)
			if !ok {
				return nil, nil, nil
			}
			names := make([]string, 0, len(q.Spec.Hard))
			for n := range q.Spec.Hard {
				names = append(names, string(n))
			}
			sort.Strings(names)
			var requests, limits []string
			for _, n := range names {
				used, hard := q.Status.Used[corev1.ResourceName(n)], q.Status.Hard[corev1.ResourceName(n)]
				cell := fmt.Sprintf("%s: %s/%s", n, used.String(), hard.String())
				if strings.HasPrefix(n, "limits.") {
					limits = append(limits, cell)
				} else {
					requests = append(requests, cell)
				}
			}
			return nil, []string{strings.Join(requests, ", "), strings.Join(limits, ", ")}, nil
		},
	}
}
