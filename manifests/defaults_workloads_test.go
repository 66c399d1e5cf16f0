package manifests

import (
	"os"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// loadDocs loads testdata/k8s-docs and returns its objects by ID.
func loadDocs(t *testing.T) map[string]Obj {
	t.Helper()
	res, err := Load(os.DirFS("testdata/k8s-docs"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Obj{}
	for _, o := range res.Objects {
		out[o.ID().String()] = o.Obj
	}
	return out
}

// TestWorkloadDefaults checks the defaults of the newer kinds against
// Kubernetes' SetDefaults_* functions.
func TestWorkloadDefaults(t *testing.T) {
	objs := loadDocs(t)
	ds := objs["DaemonSet kube-system/fluentd-elasticsearch"].(*appsv1.DaemonSet)
	sts := objs["StatefulSet default/web"].(*appsv1.StatefulSet)
	job := objs["Job default/pi"].(*batchv1.Job)
	cj := objs["CronJob default/hello"].(*batchv1.CronJob)
	hpa := objs["HorizontalPodAutoscaler default/php-apache"].(*autoscalingv2.HorizontalPodAutoscaler)
	pvc := objs["PersistentVolumeClaim default/task-pv-claim"].(*corev1.PersistentVolumeClaim)
	pv := objs["PersistentVolume task-pv-volume"].(*corev1.PersistentVolume)
	lr := objs["LimitRange default/mem-limit-range"].(*corev1.LimitRange)
	cpuLR := objs["LimitRange default/cpu-resource-constraint"].(*corev1.LimitRange)
	checks := []struct {
		name      string
		got, want any
	}{
		{"daemonset strategy", ds.Spec.UpdateStrategy.Type, appsv1.RollingUpdateDaemonSetStrategyType},
		{"daemonset maxUnavailable", *ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable, intstr.FromInt32(1)},
		{"daemonset maxSurge", *ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge, intstr.FromInt32(0)},
		{"daemonset revisionHistoryLimit", *ds.Spec.RevisionHistoryLimit, int32(10)},
		{"daemonset pod restartPolicy", ds.Spec.Template.Spec.RestartPolicy, corev1.RestartPolicyAlways},
		{"statefulset podManagementPolicy", sts.Spec.PodManagementPolicy, appsv1.OrderedReadyPodManagement},
		{"statefulset strategy", sts.Spec.UpdateStrategy.Type, appsv1.RollingUpdateStatefulSetStrategyType},
		{"statefulset partition", *sts.Spec.UpdateStrategy.RollingUpdate.Partition, int32(0)},
		{"statefulset whenDeleted", sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted, appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
		{"statefulset whenScaled", sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled, appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
		{"statefulset revisionHistoryLimit", *sts.Spec.RevisionHistoryLimit, int32(10)},
		{"statefulset replicas kept", *sts.Spec.Replicas, int32(3)},
		{"statefulset claim volumeMode", *sts.Spec.VolumeClaimTemplates[0].Spec.VolumeMode, corev1.PersistentVolumeFilesystem},
		{"job completions", *job.Spec.Completions, int32(1)},
		{"job parallelism", *job.Spec.Parallelism, int32(1)},
		{"job backoffLimit kept", *job.Spec.BackoffLimit, int32(4)},
		{"job completionMode", *job.Spec.CompletionMode, batchv1.NonIndexedCompletion},
		{"job suspend", *job.Spec.Suspend, false},
		{"job podReplacementPolicy", *job.Spec.PodReplacementPolicy, batchv1.TerminatingOrFailed},
		{"job selector left to the API", job.Spec.Selector == nil, true},
		{"cronjob concurrencyPolicy", cj.Spec.ConcurrencyPolicy, batchv1.AllowConcurrent},
		{"cronjob suspend", *cj.Spec.Suspend, false},
		{"cronjob successful history", *cj.Spec.SuccessfulJobsHistoryLimit, int32(3)},
		{"cronjob failed history", *cj.Spec.FailedJobsHistoryLimit, int32(1)},
		{"cronjob job backoffLimit", *cj.Spec.JobTemplate.Spec.BackoffLimit, int32(6)},
		{"cronjob pod dnsPolicy", cj.Spec.JobTemplate.Spec.Template.Spec.DNSPolicy, corev1.DNSClusterFirst},
		{"hpa minReplicas kept", *hpa.Spec.MinReplicas, int32(1)},
		{"hpa behavior unset", hpa.Spec.Behavior == nil, true},
		{"pvc volumeMode", *pvc.Spec.VolumeMode, corev1.PersistentVolumeFilesystem},
		{"pv reclaim policy", pv.Spec.PersistentVolumeReclaimPolicy, corev1.PersistentVolumeReclaimRetain},
		{"pv volumeMode", *pv.Spec.VolumeMode, corev1.PersistentVolumeFilesystem},
		{"pv hostPath type", *pv.Spec.HostPath.Type, corev1.HostPathUnset},
		{"limitrange defaultRequest kept", lr.Spec.Limits[0].DefaultRequest.Memory().String(), "256Mi"},
		{"limitrange default kept", cpuLR.Spec.Limits[0].Default.Cpu().String(), "500m"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestWorkloadDefaultsComputed checks the defaults that depend on other
// fields, object by object.
func TestWorkloadDefaultsComputed(t *testing.T) {
	tests := []struct {
		name  string
		obj   Obj
		check func(Obj) (got, want any)
	}{
		{"job parallelism alone leaves completions unset", &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr(int32(3))}},
			func(o Obj) (any, any) { return o.(*batchv1.Job).Spec.Completions == nil, true }},
		{"job backoffLimitPerIndex makes backoffLimit MaxInt32", &batchv1.Job{Spec: batchv1.JobSpec{BackoffLimitPerIndex: ptr(int32(1))}},
			func(o Obj) (any, any) { return *o.(*batchv1.Job).Spec.BackoffLimit, int32(2147483647) }},
		{"job podFailurePolicy makes podReplacementPolicy Failed", &batchv1.Job{Spec: batchv1.JobSpec{PodFailurePolicy: &batchv1.PodFailurePolicy{
			Rules: []batchv1.PodFailurePolicyRule{{OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}}}}},
			func(o Obj) (any, any) { return *o.(*batchv1.Job).Spec.PodReplacementPolicy, batchv1.Failed }},
		{"job onPodConditions status True", &batchv1.Job{Spec: batchv1.JobSpec{PodFailurePolicy: &batchv1.PodFailurePolicy{
			Rules: []batchv1.PodFailurePolicyRule{{OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}}}}},
			func(o Obj) (any, any) {
				return o.(*batchv1.Job).Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status, corev1.ConditionTrue
			}},
		{"job labels from template", &batchv1.Job{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pi"}}}}},
			func(o Obj) (any, any) { return o.(*batchv1.Job).Labels["app"], "pi" }},
		{"hpa default metric is 80% cpu", &autoscalingv2.HorizontalPodAutoscaler{},
			func(o Obj) (any, any) {
				m := o.(*autoscalingv2.HorizontalPodAutoscaler).Spec.Metrics[0]
				return string(m.Resource.Name) + "/" + string(m.Resource.Target.Type) + "/" + itoa32(*m.Resource.Target.AverageUtilization), "cpu/Utilization/80"
			}},
		{"hpa scaleUp rules filled", &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(60))}}}},
			func(o Obj) (any, any) {
				b := o.(*autoscalingv2.HorizontalPodAutoscaler).Spec.Behavior
				return [5]any{*b.ScaleUp.StabilizationWindowSeconds, len(b.ScaleUp.Policies), *b.ScaleDown.StabilizationWindowSeconds, b.ScaleDown.Policies[0].Value, *b.ScaleDown.SelectPolicy},
					[5]any{int32(0), 2, int32(60), int32(100), autoscalingv2.MaxChangePolicySelect}
			}},
		{"daemonset OnDelete gets no rollingUpdate", &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}},
			func(o Obj) (any, any) { return o.(*appsv1.DaemonSet).Spec.UpdateStrategy.RollingUpdate == nil, true }},
		{"statefulset OnDelete gets no rollingUpdate", &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}},
			func(o Obj) (any, any) { return o.(*appsv1.StatefulSet).Spec.UpdateStrategy.RollingUpdate == nil, true }},
		{"limitrange default from max, request from default", &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}, Min: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
			func(o Obj) (any, any) {
				it := o.(*corev1.LimitRange).Spec.Limits[0]
				return it.Default.Cpu().String() + " " + it.DefaultRequest.Cpu().String() + " " + it.DefaultRequest.Memory().String(), "2 2 64Mi"
			}},
		{"limitrange Pod type untouched", &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}}},
			func(o Obj) (any, any) { return o.(*corev1.LimitRange).Spec.Limits[0].Default == nil, true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			SetDefaults(tt.obj)
			if got, want := tt.check(tt.obj); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func itoa32(n int32) string { return resource.NewQuantity(int64(n), resource.DecimalSI).String() }
