package apiserver_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// sampleObject returns a small valid object of r, named name.
func sampleObject(t *testing.T, r api.Resource, name string) api.Object {
	t.Helper()
	meta := metav1.ObjectMeta{Name: name}
	if r.Namespaced {
		meta.Namespace = "default"
	}
	labels := map[string]string{"app": name}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	switch r.GVK().String() {
	case "/v1, Kind=Namespace":
		return &corev1.Namespace{ObjectMeta: meta}
	case "/v1, Kind=Pod":
		return &corev1.Pod{ObjectMeta: meta, Spec: tmpl.Spec}
	case "/v1, Kind=ReplicationController":
		return &corev1.ReplicationController{ObjectMeta: meta, Spec: corev1.ReplicationControllerSpec{Selector: labels, Template: &tmpl}}
	case "/v1, Kind=Service":
		return &corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	case "/v1, Kind=Endpoints":
		return &corev1.Endpoints{ObjectMeta: meta} //nolint:staticcheck // bosun serves core/v1 Endpoints
	case "/v1, Kind=ConfigMap":
		return &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "b"}}
	case "/v1, Kind=Secret":
		return &corev1.Secret{ObjectMeta: meta}
	case "/v1, Kind=Node":
		return &corev1.Node{ObjectMeta: meta}
	case "/v1, Kind=Event":
		return &corev1.Event{ObjectMeta: meta, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "x"}}
	case "apps/v1, Kind=ReplicaSet":
		return &appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	case "apps/v1, Kind=Deployment":
		return &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	case "/v1, Kind=ServiceAccount":
		return &corev1.ServiceAccount{ObjectMeta: meta}
	case "/v1, Kind=PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{ObjectMeta: meta}
	case "/v1, Kind=PersistentVolume":
		return &corev1.PersistentVolume{ObjectMeta: meta}
	case "/v1, Kind=ResourceQuota":
		return &corev1.ResourceQuota{ObjectMeta: meta}
	case "/v1, Kind=LimitRange":
		return &corev1.LimitRange{ObjectMeta: meta}
	case "apps/v1, Kind=DaemonSet":
		return &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	case "apps/v1, Kind=StatefulSet":
		return &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	case "apps/v1, Kind=ControllerRevision":
		return &appsv1.ControllerRevision{ObjectMeta: meta, Revision: 1}
	case "batch/v1, Kind=Job":
		return &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: tmpl}}
	case "batch/v1, Kind=CronJob":
		return &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{Schedule: "* * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}
	case "autoscaling/v2, Kind=HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}, MaxReplicas: 3}}
	case "policy/v1, Kind=PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{ObjectMeta: meta, Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}}}
	case "discovery.k8s.io/v1, Kind=EndpointSlice":
		return &discoveryv1.EndpointSlice{ObjectMeta: meta, AddressType: discoveryv1.AddressTypeIPv4}
	case "coordination.k8s.io/v1, Kind=Lease":
		return &coordinationv1.Lease{ObjectMeta: meta}
	case "events.k8s.io/v1, Kind=Event":
		return &eventsv1.Event{ObjectMeta: meta, EventTime: metav1.NowMicro(), Regarding: corev1.ObjectReference{Kind: "Pod", Name: "x"}}
	}
	t.Fatalf("no sample object for %s: add one", r.GVK())
	return nil
}

// key names r's sample objects: its kind and group, as names allow.
func key(r api.Resource) string { return strings.ReplaceAll(r.String(), ".", "-") }

// TestClientGoInformers runs client-go's informer (List, then Watch) over
// every served resource, as controllers written against Kubernetes do, and
// checks that it sees objects come, change and go.
func TestClientGoInformers(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	dc, err := dynamic.NewForConfig(&rest.Config{Host: e.url})
	if err != nil {
		t.Fatal(err)
	}
	factory := dynamicinformer.NewDynamicSharedInformerFactory(dc, 0)
	type seen struct {
		mu                     sync.Mutex
		added, updated, delete map[string]bool
	}
	byRes := map[string]*seen{}
	for _, r := range api.Resources() {
		s := &seen{added: map[string]bool{}, updated: map[string]bool{}, delete: map[string]bool{}}
		byRes[r.String()] = s
		name := func(o any) string {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			return o.(*unstructured.Unstructured).GetName()
		}
		_, err := factory.ForResource(r.GVR()).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { s.mu.Lock(); s.added[name(o)] = true; s.mu.Unlock() },
			UpdateFunc: func(_, o any) { s.mu.Lock(); s.updated[name(o)] = true; s.mu.Unlock() },
			DeleteFunc: func(o any) { s.mu.Lock(); s.delete[name(o)] = true; s.mu.Unlock() },
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// One object before the informers start (the List), one after (the Watch).
	for _, r := range api.Resources() {
		e.create(sampleObject(t, r, "listed-"+key(r)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	syncCtx, syncCancel := context.WithTimeout(ctx, 20*time.Second)
	defer syncCancel()
	for gvr, ok := range factory.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			t.Fatalf("informer of %s did not sync", gvr)
		}
	}
	for _, r := range api.Resources() {
		o := sampleObject(t, r, "watched-"+key(r))
		e.create(o)
		o.SetLabels(map[string]string{"changed": "yes"})
		if err := e.st.Update(context.Background(), o); err != nil {
			t.Fatalf("update %s: %v", r, err)
		}
		if err := e.st.Delete(context.Background(), r, o.GetNamespace(), o.GetName(), ""); err != nil {
			t.Fatalf("delete %s: %v", r, err)
		}
	}
	for _, r := range api.Resources() {
		s := byRes[r.String()]
		testutil.EventuallyTrue(t, 15*time.Second, "the informer of "+r.String()+" to see everything", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			w := "watched-" + key(r)
			return s.added["listed-"+key(r)] && s.added[w] && s.updated[w] && s.delete[w]
		})
	}
}

// TestSendInitialEventsValidation: a streaming list needs what
// kube-apiserver asks of it.
func TestSendInitialEventsValidation(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	for _, q := range []string{
		"watch=true&sendInitialEvents=true&allowWatchBookmarks=true",
		"watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
		"watch=true&sendInitialEvents=maybe&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
	} {
		code, body := e.do("GET", "/api/v1/namespaces/default/configmaps?"+q, nil)
		if code != 422 && code != 400 {
			t.Errorf("%s: %d %s, want 422 or 400", q, code, body)
		}
	}
}
