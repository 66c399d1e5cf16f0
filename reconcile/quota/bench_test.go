package quota

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-dev/bosun/api"
)

// BenchmarkAdmitPod admits one pod into a namespace of 1,000 cached pods
// under two quotas: the cost a ReplicaSet pays per pod it creates.
func BenchmarkAdmitPod(b *testing.B) {
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: types.UID("rs-uid"), Controller: new(true)}
	objs := []api.Object{
		rq("compute", rl("pods", "100000", "requests.cpu", "100000", "limits.memory", "100000Gi")),
		rq("count", rl("count/pods", "100000")),
	}
	for i := range 1000 {
		p := named(podWith(ctr("app", rl("cpu", "100m", "memory", "64Mi"), rl("memory", "64Mi"))), fmt.Sprint("web-", i))
		p.OwnerReferences = []metav1.OwnerReference{owner}
		objs = append(objs, p)
	}
	e := newAdmitEnv(b, objs...)
	b.ResetTimer()
	for b.Loop() {
		p := podWith(ctr("app", rl("cpu", "100m", "memory", "64Mi"), rl("memory", "64Mi")))
		p.Name, p.GenerateName, p.OwnerReferences = "", "web-", []metav1.OwnerReference{owner}
		if err := e.adm.AdmitPod(b.Context(), p); err != nil {
			b.Fatal(err)
		}
	}
}
