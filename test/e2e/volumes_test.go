//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/volumes"
)

// volumesPodIP waits for the pod to run with an IP and returns the IP.
func volumesPodIP(t *testing.T, h *nodeHost, ns, name string) string {
	t.Helper()
	var ip string
	testutil.Eventually(t, 90*time.Second, "pod "+name+" running", func() (bool, string) {
		o, err := h.client().Get(context.Background(), resource(t, "pods"), ns, name)
		if err != nil {
			return false, err.Error()
		}
		p := o.(*corev1.Pod)
		ip = p.Status.PodIP
		var waiting []string
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				waiting = append(waiting, w.Reason+": "+w.Message)
			}
		}
		return podReady(p) && ip != "", fmt.Sprintf("phase %s ip %q %v", p.Status.Phase, ip, waiting)
	})
	return ip
}

// volumesFile returns what the app at ip serves from its file path.
func volumesFile(h *nodeHost, ip, path string) (string, error) {
	return h.get("http://" + ip + ":8080/file?path=" + path)
}

// TestVolumesRealNode runs on a real node (containerd, root): a pod reads
// its downward API environment and its downwardAPI and projected volumes
// through the example app's /env and /file, and a label change reaches the
// volume; a pod whose claim is not bound waits in ContainerCreating with a
// FailedMount event and, once the claim is bound to a local PV the test
// made, writes a file the test finds in the PV's directory; the directory
// of a deleted bosun-provisioned PV is removed once no pod uses it.
func TestVolumesRealNode(t *testing.T) {
	r := newRepo(t)
	// Registered before the node host's cleanup, so it runs after it: the
	// tmpfs of the pods' downwardAPI and projected volumes would keep the
	// data directory from being removed.
	var dataDir string
	t.Cleanup(func() {
		if dataDir == "" {
			return
		}
		if err := volumes.UnmountAll(dataDir); err != nil {
			t.Errorf("unmount the pods' volumes: %v", err)
		}
		_ = os.RemoveAll(dataDir)
	})
	h := newNodeHost(t, r.dir)
	dataDir = h.dataDir
	ctx := context.Background()
	c := h.client()
	create := func(t *testing.T, kind string, obj api.Object) {
		t.Helper()
		if err := c.Create(ctx, resource(t, kind), obj); err != nil {
			t.Fatalf("create %s: %v", kind, err)
		}
	}

	t.Run("downward API and projected volumes", func(t *testing.T) {
		r.write("apps/volumes/downward.yaml", volumesDownwardYAML)
		r.commitAll("volumes: a pod reading the downward API")
		ip := volumesPodIP(t, h, "demo", "downward")

		var env string
		testutil.Eventually(t, 30*time.Second, "the app to answer /env", func() (bool, string) {
			var err error
			env, err = h.get("http://" + ip + ":8080/env")
			return err == nil, fmt.Sprint(err)
		})
		for _, want := range []string{"MY_NAME=downward", "MY_NAMESPACE=demo", "MY_NODE=node-1", "MY_TIER=front",
			"MY_IP=" + ip, "MY_CPU_MILLIS=500", "MY_MEM_MI=64"} {
			if !strings.Contains("\n"+env+"\n", "\n"+want+"\n") {
				t.Errorf("/env has no line %s:\n%s", want, env)
			}
		}
		// Sync adds its app.kubernetes.io/managed-by label: one line of the file.
		for path, want := range map[string]string{"/etc/podinfo/labels": "app.kubernetes.io/managed-by=\"bosun\"\ntier=\"front\"", "/etc/podinfo/cpu": "500",
			"/etc/all/greeting": "hello", "/etc/all/meta/team": "blue"} {
			if got, err := volumesFile(h, ip, path); err != nil || got != want {
				t.Errorf("%s = %q, %v; want %q", path, got, err, want)
			}
		}

		// A label change reaches the downwardAPI volume of the running pod.
		r.replace("apps/volumes/downward.yaml", "tier: front", "tier: back")
		r.commitAll("volumes: relabel the downward pod")
		testutil.Eventually(t, 60*time.Second, "the new label in /etc/podinfo/labels", func() (bool, string) {
			got, err := volumesFile(h, ip, "/etc/podinfo/labels")
			return got == "app.kubernetes.io/managed-by=\"bosun\"\ntier=\"back\"", fmt.Sprintf("%q, %v", got, err)
		})
	})

	t.Run("persistentVolumeClaim on a local PV", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		create(t, "persistentvolumeclaims", &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("1Gi")}}}})
		r.write("apps/volumes/writer.yaml", volumesWriterYAML)
		r.commitAll("volumes: a pod writing to its claim")

		// Unbound: ContainerCreating with a FailedMount event.
		testutil.Eventually(t, 60*time.Second, "a FailedMount event for the unbound claim", func() (bool, string) {
			objs, err := c.List(ctx, resource(t, "events"), "demo", "")
			if err != nil {
				return false, err.Error()
			}
			for _, o := range objs {
				ev := o.(*corev1.Event)
				if ev.InvolvedObject.Name == "writer" && ev.Reason == "FailedMount" && strings.Contains(ev.Message, "is not bound") {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d events, none FailedMount for writer", len(objs))
		})
		o, err := c.Get(ctx, resource(t, "pods"), "demo", "writer")
		if err != nil {
			t.Fatal(err)
		}
		if p := o.(*corev1.Pod); len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Waiting == nil ||
			p.Status.ContainerStatuses[0].State.Waiting.Reason != "ContainerCreating" {
			t.Errorf("writer's status with an unbound claim: %+v, want the container waiting in ContainerCreating", p.Status)
		}

		// Bind it to a local PV on this node, as the volumebinding controller would.
		o, err = c.Get(ctx, resource(t, "persistentvolumeclaims"), "demo", "data")
		if err != nil {
			t.Fatal(err)
		}
		pvc := o.(*corev1.PersistentVolumeClaim)
		create(t, "persistentvolumes", &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "e2e-local"},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("1Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "demo", Name: "data", UID: pvc.UID},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1"}}},
				}}}},
			}})
		pvc.Spec.VolumeName = "e2e-local"
		if err := c.Update(ctx, resource(t, "persistentvolumeclaims"), pvc); err != nil {
			t.Fatal(err)
		}
		o, err = c.Get(ctx, resource(t, "persistentvolumeclaims"), "demo", "data")
		if err != nil {
			t.Fatal(err)
		}
		pvc = o.(*corev1.PersistentVolumeClaim)
		pvc.Status.Phase = corev1.ClaimBound
		if err := c.UpdateStatus(ctx, resource(t, "persistentvolumeclaims"), pvc); err != nil {
			t.Fatal(err)
		}

		out := filepath.Join(dir, "out.txt")
		testutil.Eventually(t, 90*time.Second, "the pod's file in the PV's directory", func() (bool, string) {
			b, err := os.ReadFile(out)
			return string(b) == "written by the pod\n", fmt.Sprintf("%q, %v", b, err)
		})
	})
	t.Run("a deleted provisioned PV's directory goes", func(t *testing.T) {
		create(t, "persistentvolumeclaims", &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "scratch"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("1Gi")}}}})
		o, err := c.Get(ctx, resource(t, "persistentvolumeclaims"), "demo", "scratch")
		if err != nil {
			t.Fatal(err)
		}
		pvc := o.(*corev1.PersistentVolumeClaim)
		// The node's volume directory: its annotation, else the agent's
		// RootDir (<data dir>/agent/pods) + /volumes.
		volDir := filepath.Join(h.dataDir, "agent", "pods", "volumes")
		if n, err := c.Get(ctx, resource(t, "nodes"), "", "node-1"); err == nil && n.GetAnnotations()["bosun.dev/local-volume-dir"] != "" {
			volDir = n.GetAnnotations()["bosun.dev/local-volume-dir"]
		}
		pvName := "pvc-" + string(pvc.UID)
		dir := filepath.Join(volDir, pvName)
		create(t, "persistentvolumes", &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: pvName, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "bosun.dev/local-path"}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("1Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "demo", Name: "scratch", UID: pvc.UID},
			}})
		pvc.Spec.VolumeName = pvName
		if err := c.Update(ctx, resource(t, "persistentvolumeclaims"), pvc); err != nil {
			t.Fatal(err)
		}
		o, err = c.Get(ctx, resource(t, "persistentvolumeclaims"), "demo", "scratch")
		if err != nil {
			t.Fatal(err)
		}
		pvc = o.(*corev1.PersistentVolumeClaim)
		pvc.Status.Phase = corev1.ClaimBound
		if err := c.UpdateStatus(ctx, resource(t, "persistentvolumeclaims"), pvc); err != nil {
			t.Fatal(err)
		}
		r.write("apps/volumes/keeper.yaml", strings.ReplaceAll(strings.ReplaceAll(volumesWriterYAML, "name: writer", "name: keeper"),
			"claimName: data", "claimName: scratch"))
		r.commitAll("volumes: a pod on a provisioned volume")
		testutil.Eventually(t, 90*time.Second, "the pod's file in the provisioned directory", func() (bool, string) {
			b, err := os.ReadFile(filepath.Join(dir, "out.txt"))
			return string(b) == "written by the pod\n", fmt.Sprintf("%q, %v", b, err)
		})
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o777 {
			t.Errorf("provisioned directory %s: %v, %v; want mode 0777", dir, fi, err)
		}

		// The pod goes (pruned from Git), then the PV: the agent removes the directory.
		if err := os.Remove(filepath.Join(r.dir, "apps/volumes/keeper.yaml")); err != nil {
			t.Fatal(err)
		}
		r.commitAll("volumes: remove the pod on the provisioned volume")
		testutil.Eventually(t, 60*time.Second, "pod keeper gone", func() (bool, string) {
			_, err := c.Get(ctx, resource(t, "pods"), "demo", "keeper")
			return client.IsNotFound(err), fmt.Sprint(err)
		})
		if err := c.Delete(ctx, resource(t, "persistentvolumes"), "", pvName, ""); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 60*time.Second, "the deleted PV's directory removed", func() (bool, string) {
			_, err := os.Stat(dir)
			return os.IsNotExist(err), fmt.Sprint(err)
		})
		if n := strings.Count(h.log.String(), "removed the directory of a deleted persistent volume"); n != 1 {
			t.Errorf("%d removal log lines, want 1", n)
		}
	})
}

const volumesDownwardYAML = `apiVersion: v1
kind: Pod
metadata:
  name: downward
  namespace: demo
  labels:
    tier: front
  annotations:
    team: blue
spec:
  nodeName: node-1
  containers:
    - name: app
      image: bosun.local/hello:v1
      resources:
        limits:
          cpu: 500m
          memory: 64Mi
      env:
        - name: MY_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: MY_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
        - name: MY_NODE
          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
        - name: MY_TIER
          valueFrom: {fieldRef: {fieldPath: "metadata.labels['tier']"}}
        - name: MY_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - name: MY_CPU_MILLIS
          valueFrom: {resourceFieldRef: {containerName: app, resource: limits.cpu, divisor: 1m}}
        - name: MY_MEM_MI
          valueFrom: {resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}
      volumeMounts:
        - {name: podinfo, mountPath: /etc/podinfo}
        - {name: all, mountPath: /etc/all}
  volumes:
    - name: podinfo
      downwardAPI:
        items:
          - {path: labels, fieldRef: {fieldPath: metadata.labels}}
          - {path: cpu, resourceFieldRef: {containerName: app, resource: limits.cpu, divisor: 1m}}
    - name: all
      projected:
        sources:
          - configMap: {name: settings}
          - downwardAPI:
              items:
                - {path: meta/team, fieldRef: {fieldPath: "metadata.annotations['team']"}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
data:
  greeting: hello
`

const volumesWriterYAML = `apiVersion: v1
kind: Pod
metadata:
  name: writer
  namespace: demo
spec:
  nodeName: node-1
  restartPolicy: Never
  containers:
    - name: app
      image: bosun.local/hello:v1
      command: [/app]
      args: [write, /data/out.txt, written by the pod]
      volumeMounts:
        - {name: data, mountPath: /data}
  volumes:
    - name: data
      persistentVolumeClaim:
        claimName: data
`
