package helm

import (
	"testing"
	"testing/fstest"
)

// BenchmarkRender200 renders a chart of 200 objects (100 Deployments and
// 100 Services from ranged templates, with helpers and two values files).
func BenchmarkRender200(b *testing.B) {
	fsys := fstest.MapFS{
		"charts/many/Chart.yaml":  {Data: []byte("apiVersion: v2\nname: many\nversion: 1.0.0\n")},
		"charts/many/values.yaml": {Data: []byte("count: 100\nimage:\n  repository: registry.example.com/app\n  tag: \"1.0\"\nreplicaCount: 2\n")},
		"charts/many/templates/_helpers.tpl": {Data: []byte(`{{- define "many.labels" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ printf "svc-%d" .i }}
{{- end -}}
`)},
		"charts/many/templates/deployments.yaml": {Data: []byte(`{{- range $i := until (int .Values.count) }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ printf "svc-%d" $i }}
  labels:
    {{- include "many.labels" (dict "root" $ "i" $i) | nindent 4 }}
spec:
  replicas: {{ $.Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "many.labels" (dict "root" $ "i" $i) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "many.labels" (dict "root" $ "i" $i) | nindent 8 }}
    spec:
      containers:
        - name: app
          image: "{{ $.Values.image.repository }}:{{ $.Values.image.tag }}"
          ports:
            - containerPort: 8080
{{- end }}
`)},
		"charts/many/templates/services.yaml": {Data: []byte(`{{- range $i := until (int .Values.count) }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ printf "svc-%d" $i }}
spec:
  selector:
    {{- include "many.labels" (dict "root" $ "i" $i) | nindent 4 }}
  ports:
    - port: 80
      targetPort: 8080
{{- end }}
`)},
		"apps/many/bosun-helm.yaml": {Data: []byte("apiVersion: bosun.dev/v1alpha1\nkind: HelmChart\nchart: ../../charts/many\nnamespace: bench\nvalueFiles: [values.yaml]\nvalues:\n  replicaCount: 3\n")},
		"apps/many/values.yaml":     {Data: []byte("image:\n  tag: \"2.0\"\n")},
	}
	r := New(Options{})
	objs, probs := render(b, r, fsys)
	if len(objs) != 200 || len(probs) != 0 {
		b.Fatalf("rendered %d objects, problems %v; want 200 and none", len(objs), probs)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := r.Render(fsys, []string{"apps/many"}); err != nil {
			b.Fatal(err)
		}
	}
}
