package table_test

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/api/table"
	"github.com/bosun-dev/bosun/store/storetest"
)

func TestWorkloadColumns(t *testing.T) {
	tests := []struct {
		resource string
		want     string
	}{
		{"daemonsets", "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE COMMIT +CONTAINERS +IMAGES +SELECTOR +SOURCE"},
		{"statefulsets", "NAME READY AGE COMMIT +CONTAINERS +IMAGES +SOURCE"},
		{"controllerrevisions", "NAME CONTROLLER REVISION AGE"},
		{"jobs", "NAME STATUS COMPLETIONS DURATION AGE COMMIT +CONTAINERS +IMAGES +SELECTOR +SOURCE"},
		{"cronjobs", "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE COMMIT +CONTAINERS +IMAGES +SELECTOR +SOURCE"},
		{"horizontalpodautoscalers", "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE COMMIT +SOURCE"},
		{"persistentvolumeclaims", "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE COMMIT +VOLUMEMODE +SOURCE"},
		{"persistentvolumes", "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE COMMIT +VOLUMEMODE +SOURCE"},
		{"serviceaccounts", "NAME SECRETS AGE COMMIT +SOURCE"},
		{"resourcequotas", "NAME AGE REQUEST LIMIT COMMIT +SOURCE"},
		{"limitranges", "NAME CREATED AT COMMIT +SOURCE"},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			got := table.For(storetest.Resource(t, tt.resource), nil, table.Options{Now: now})
			if c := columns(got); c != tt.want {
				t.Errorf("columns = %q\nwant      %q", c, tt.want)
			}
		})
	}
}

func TestWorkloadRows(t *testing.T) {
	created := metav1.NewTime(now.Add(-90 * time.Second))
	meta := metav1.ObjectMeta{Namespace: "shop", Name: "web", CreationTimestamp: created}
	containers := []corev1.Container{{Name: "app", Image: "nginx:1.27"}, {Name: "log", Image: "fluentd"}}
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers, NodeSelector: map[string]string{"disk": "ssd"}}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	started := metav1.NewTime(now.Add(-2 * time.Minute))
	finished := metav1.NewTime(now.Add(-time.Minute))
	cond := func(t batchv1.JobConditionType) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: t, Status: corev1.ConditionTrue}}
	}
	job := func(mutate func(j *batchv1.Job)) api.Object {
		j := &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Completions: ptr.To[int32](3), Selector: sel, Template: tmpl},
			Status: batchv1.JobStatus{Succeeded: 2, StartTime: &started}}
		mutate(j)
		return j
	}
	hpa := func(metrics []autoscalingv2.MetricSpec, current []autoscalingv2.MetricStatus) api.Object {
		return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 10, Metrics: metrics,
		}, Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, CurrentMetrics: current}}
	}
	cpu := func(target int32) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(target)}}}
	}
	mem := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("200Mi"))}}}
	cpuNow := autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To[int32](40)}}}
	fs := corev1.PersistentVolumeFilesystem
	tests := []struct {
		name     string
		resource string
		obj      api.Object
		want     []string
	}{
		{"daemonset", "daemonsets", &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 1, NumberAvailable: 2}},
			[]string{"web", "3", "3", "2", "1", "2", "disk=ssd", "90s", "<none>", "app,log", "nginx:1.27,fluentd", "app=web", "<none>"}},
		{"statefulset", "statefulsets", &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), Template: tmpl},
			Status: appsv1.StatefulSetStatus{ReadyReplicas: 1}},
			[]string{"web", "1/3", "90s", "<none>", "app,log", "nginx:1.27,fluentd", "<none>"}},
		{"controller revision", "controllerrevisions", &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-7d9f", CreationTimestamp: created,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Controller: ptr.To(true)}}}, Revision: 2},
			[]string{"web-7d9f", "statefulset.apps/web", "2", "90s"}},
		{"running job", "jobs", job(func(*batchv1.Job) {}),
			[]string{"web", "Running", "2/3", "2m", "90s", "<none>", "app,log", "nginx:1.27,fluentd", "app=web", "<none>"}},
		{"complete job", "jobs", job(func(j *batchv1.Job) {
			j.Status.CompletionTime, j.Status.Conditions = &finished, cond(batchv1.JobComplete)
		}),
			[]string{"web", "Complete", "2/3", "60s", "90s", "<none>", "app,log", "nginx:1.27,fluentd", "app=web", "<none>"}},
		{"failed job", "jobs", job(func(j *batchv1.Job) { j.Status.Conditions = cond(batchv1.JobFailed) }),
			[]string{"web", "Failed", "2/3", "2m", "90s", "<none>", "app,log", "nginx:1.27,fluentd", "app=web", "<none>"}},
		{"suspended parallel job", "jobs", job(func(j *batchv1.Job) {
			j.Spec.Completions, j.Spec.Parallelism, j.Status.StartTime = nil, ptr.To[int32](5), nil
			j.Status.Conditions = cond(batchv1.JobSuspended)
		}), []string{"web", "Suspended", "2/1 of 5", "", "90s", "<none>", "app,log", "nginx:1.27,fluentd", "app=web", "<none>"}},
		{"cronjob", "cronjobs", &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", Suspend: ptr.To(false),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}},
			Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "web-1"}}, LastScheduleTime: &finished}},
			[]string{"web", "*/5 * * * *", "<none>", "False", "1", "60s", "90s", "<none>", "app,log", "nginx:1.27,fluentd", "<none>", "<none>"}},
		{"hpa on cpu", "horizontalpodautoscalers", hpa([]autoscalingv2.MetricSpec{cpu(50)}, []autoscalingv2.MetricStatus{cpuNow}),
			[]string{"web", "Deployment/web", "cpu: 40%/50%", "2", "10", "3", "90s", "<none>", "<none>"}},
		{"hpa not measured yet, three metrics", "horizontalpodautoscalers", hpa([]autoscalingv2.MetricSpec{cpu(50), mem, cpu(70)}, nil),
			[]string{"web", "Deployment/web", "cpu: <unknown>/50%, memory: <unknown>/200Mi + 1 more...", "2", "10", "3", "90s", "<none>", "<none>"}},
		{"bound claim", "persistentvolumeclaims", &corev1.PersistentVolumeClaim{ObjectMeta: meta, Spec: corev1.PersistentVolumeClaimSpec{
			VolumeName: "pvc-1", StorageClassName: ptr.To("local-path"), VolumeMode: &fs},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce},
				Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			[]string{"web", "Bound", "pvc-1", "1Gi", "RWO,RWX", "local-path", "<unset>", "90s", "<none>", "Filesystem", "<none>"}},
		{"pending claim", "persistentvolumeclaims", &corev1.PersistentVolumeClaim{ObjectMeta: meta, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
			[]string{"web", "Pending", "", "", "", "", "<unset>", "90s", "<none>", "<unset>", "<none>"}},
		{"volume", "persistentvolumes", &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", CreationTimestamp: created},
			Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				ClaimRef: &corev1.ObjectReference{Namespace: "shop", Name: "web"}, StorageClassName: "local-path", VolumeMode: &fs},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}},
			[]string{"pvc-1", "1Gi", "RWO", "Delete", "Bound", "shop/web", "local-path", "<unset>", "", "90s", "<none>", "Filesystem", "<none>"}},
		{"service account", "serviceaccounts", &corev1.ServiceAccount{ObjectMeta: meta, Secrets: []corev1.ObjectReference{{Name: "t"}}},
			[]string{"web", "1", "90s", "<none>", "<none>"}},
		{"resource quota", "resourcequotas", &corev1.ResourceQuota{ObjectMeta: meta,
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("1"), "limits.cpu": resource.MustParse("2")}},
			Status: corev1.ResourceQuotaStatus{
				Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("1"), "limits.cpu": resource.MustParse("2")},
				Used: corev1.ResourceList{"pods": resource.MustParse("3"), "requests.cpu": resource.MustParse("500m"), "limits.cpu": resource.MustParse("1")}}},
			[]string{"web", "90s", "pods: 3/10, requests.cpu: 500m/1", "limits.cpu: 1/2", "<none>", "<none>"}},
		{"limit range", "limitranges", &corev1.LimitRange{ObjectMeta: meta},
			[]string{"web", "2026-11-02T11:58:30Z", "<none>", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := table.For(storetest.Resource(t, tt.resource), []api.Object{tt.obj}, table.Options{Now: now})
			if len(got.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(got.Rows))
			}
			if !reflect.DeepEqual(got.Rows[0], tt.want) {
				t.Errorf("row = %q\nwant  %q", got.Rows[0], tt.want)
			}
			if len(got.Rows[0]) != len(got.Columns) {
				t.Errorf("%d cells for %d columns", len(got.Rows[0]), len(got.Columns))
			}
		})
	}
}
