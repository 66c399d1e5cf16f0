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
// FailedMount event and, once a local PV pre-bound to the claim is
// committed, writes a file the test finds in the PV's directory; a claim of
// the default class gets a node-local volume where the scheduler put its
// pod, and when pod and claim leave Git the volume and its directory go.
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
		r.write("apps/volumes/claim.yaml", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: demo}
spec:
  storageClassName: ""
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`)
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

		// A local PV on this node, pre-bound to the claim, committed: the
		// volume binder binds both and the pod writes into the directory.
		r.write("apps/volumes/pv.yaml", fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata: {name: e2e-local}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: demo, name: data}
  local: {path: %s}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node-1]}]
`, dir))
		r.commitAll("volumes: a local PV for the claim")
		out := filepath.Join(dir, "out.txt")
		testutil.Eventually(t, 90*time.Second, "the pod's file in the PV's directory", func() (bool, string) {
			b, err := os.ReadFile(out)
			return string(b) == "written by the pod\n", fmt.Sprintf("%q, %v", b, err)
		})
	})
	t.Run("a deleted provisioned PV's directory goes", func(t *testing.T) {
		// No nodeName and no class: the scheduler picks the node, the
		// node-local provisioner makes the volume there.
		keeper := strings.NewReplacer("name: writer", "name: keeper", "claimName: data", "claimName: scratch",
			"  nodeName: node-1\n", "").Replace(volumesWriterYAML)
		r.write("apps/volumes/keeper.yaml", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: scratch, namespace: demo}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
`+keeper)
		r.commitAll("volumes: a pod on a provisioned volume")
		var pvName string
		testutil.Eventually(t, 90*time.Second, "the claim bound to a provisioned volume", func() (bool, string) {
			o, err := c.Get(ctx, resource(t, "persistentvolumeclaims"), "demo", "scratch")
			if err != nil {
				return false, err.Error()
			}
			pvc := o.(*corev1.PersistentVolumeClaim)
			pvName = pvc.Spec.VolumeName
			return pvName != "" && pvc.Status.Phase == corev1.ClaimBound, fmt.Sprintf("volumeName %q phase %s", pvName, pvc.Status.Phase)
		})
		o, err := c.Get(ctx, resource(t, "persistentvolumes"), "", pvName)
		if err != nil {
			t.Fatal(err)
		}
		pv := o.(*corev1.PersistentVolume)
		if pv.Spec.Local == nil || pv.Annotations["pv.kubernetes.io/provisioned-by"] != "bosun.dev/local-path" {
			t.Fatalf("provisioned volume %s: %+v", pvName, pv)
		}
		dir := pv.Spec.Local.Path
		testutil.Eventually(t, 90*time.Second, "the pod's file in the provisioned directory", func() (bool, string) {
			b, err := os.ReadFile(filepath.Join(dir, "out.txt"))
			return string(b) == "written by the pod\n", fmt.Sprintf("%q, %v", b, err)
		})
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o777 {
			t.Errorf("provisioned directory %s: %v, %v; want mode 0777", dir, fi, err)
		}

		// The pod and the claim leave Git: the binder deletes the volume
		// (reclaim policy Delete), the agent removes its directory.
		if err := os.Remove(filepath.Join(r.dir, "apps/volumes/keeper.yaml")); err != nil {
			t.Fatal(err)
		}
		r.commitAll("volumes: remove the pod and claim of the provisioned volume")
		testutil.Eventually(t, 90*time.Second, "the provisioned volume deleted", func() (bool, string) {
			_, err := c.Get(ctx, resource(t, "persistentvolumes"), "", pvName)
			return client.IsNotFound(err), fmt.Sprint(err)
		})
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
