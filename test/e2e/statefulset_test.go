//go:build linux

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// statefulSetYAML is a headless Service and a StatefulSet of one pod of the
// example app with a 1Gi claim from the node-local provisioner at /data.
const statefulSetYAML = `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  clusterIP: None
  selector:
    app: web
  ports:
    - name: http
      port: 8080
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: demo
spec:
  serviceName: web
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: bosun.local/hello:v1
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet:
              path: /ready
              port: http
          volumeMounts:
            - name: data
              mountPath: /data
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        storageClassName: local-path
        resources:
          requests:
            storage: 1Gi
`

// TestStatefulSetVolumeSurvivesPod runs a StatefulSet from Git on a real
// node: its pod writes to its volume (a PersistentVolume the node-local
// provisioner made under the agent's data directory), is deleted, and the
// replacement web-0, on the same node, reads the same data.
func TestStatefulSetVolumeSurvivesPod(t *testing.T) {
	r := newRepo(t)
	r.write("apps/web/statefulset.yaml", statefulSetYAML)
	r.commitAll("a StatefulSet with a volume")
	h := newNodeHost(t, r.dir)
	first := h.readyPods("demo", "app=web", 1)[0]
	if first.Name != "web-0" || first.Spec.Hostname != "web-0" || first.Spec.Subdomain != "web" {
		t.Fatalf("pod %s hostname %q subdomain %q, want web-0, web-0, web", first.Name, first.Spec.Hostname, first.Spec.Subdomain)
	}
	if out, err := h.bosun("exec", "web-0", "-n", "demo", "--", "/app", "write", "/data/x", "hello"); err != nil {
		t.Fatalf("app write in web-0: %v\n%s", err, out)
	}
	stsReadFile(t, h, first, "hello\n")

	pvcs := resource(t, "persistentvolumeclaims")
	claim, err := h.client().Get(context.Background(), pvcs, "demo", "data-web-0")
	if err != nil {
		t.Fatalf("claim data-web-0: %v", err)
	}
	pvc := claim.(*corev1.PersistentVolumeClaim)
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName != "pvc-"+string(pvc.UID) {
		t.Fatalf("claim data-web-0: phase %s volume %q, want Bound to pvc-%s", pvc.Status.Phase, pvc.Spec.VolumeName, pvc.UID)
	}
	pvObj, err := h.client().Get(context.Background(), resource(t, "persistentvolumes"), "", pvc.Spec.VolumeName)
	if err != nil {
		t.Fatalf("volume %s: %v", pvc.Spec.VolumeName, err)
	}
	if pv := pvObj.(*corev1.PersistentVolume); pv.Spec.Local == nil || !strings.HasPrefix(pv.Spec.Local.Path, h.dataDir) {
		t.Errorf("volume %s: local %+v, want a path under %s", pv.Name, pv.Spec.Local, h.dataDir)
	}

	if err := h.client().Delete(context.Background(), resource(t, "pods"), "demo", "web-0", ""); err != nil {
		t.Fatalf("delete web-0: %v", err)
	}
	var second *corev1.Pod
	testutil.Eventually(t, 2*time.Minute, "a new web-0 Running and Ready", func() (bool, string) {
		for _, p := range h.pods("demo", "app=web") {
			if p.UID != first.UID && podReady(p) && p.DeletionTimestamp == nil {
				second = p
				return true, ""
			}
		}
		return false, "old web-0 still there or the new one not ready"
	})
	if second.Spec.NodeName != first.Spec.NodeName {
		t.Errorf("new web-0 on %s, want %s (the volume's node)", second.Spec.NodeName, first.Spec.NodeName)
	}
	stsReadFile(t, h, second, "hello\n")
}

// stsReadFile checks that pod serves want as the content of /data/x.
func stsReadFile(t *testing.T, h *nodeHost, pod *corev1.Pod, want string) {
	t.Helper()
	url := fmt.Sprintf("http://%s:8080/file?path=/data/x", pod.Status.PodIP)
	testutil.Eventually(t, 30*time.Second, "the file on the volume", func() (bool, string) {
		got, err := h.get(url)
		if err != nil {
			return false, err.Error()
		}
		return got == want, fmt.Sprintf("%s: %q, want %q", url, got, want)
	})
}
