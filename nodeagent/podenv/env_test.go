package podenv_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/nodeagent/podenv"
	"github.com/bosun-dev/bosun/nodeagent/staticpods"
)

// objects is an in-memory podenv.Objects.
type objects struct {
	cms      map[string]*corev1.ConfigMap
	secrets  map[string]*corev1.Secret
	services []*corev1.Service
	svcErr   error
}

func (o objects) ConfigMap(_ context.Context, name string) (*corev1.ConfigMap, error) {
	return o.cms[name], nil
}

func (o objects) Secret(_ context.Context, name string) (*corev1.Secret, error) {
	return o.secrets[name], nil
}

func (o objects) Services(context.Context) ([]*corev1.Service, error) { return o.services, o.svcErr }

func ptr[T any](v T) *T { return &v }

func testObjects() objects {
	return objects{
		cms: map[string]*corev1.ConfigMap{"cfg": {Data: map[string]string{"LOG": "debug", "bad-key": "x", "1ST": "y"}}},
		secrets: map[string]*corev1.Secret{"creds": {Data: map[string][]byte{"user": []byte("admin")},
			StringData: map[string]string{"token": "t0k"}}},
	}
}

func fieldRef(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
}

func cmKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr(optional)}}
}

func TestEnv(t *testing.T) {
	r := podenv.New(podenv.Config{NodeName: "n1", HostIP: "192.168.1.10",
		Capacity: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		ServiceEnv: func(_ []*corev1.Service, ns string) []corev1.EnvVar {
			return []corev1.EnvVar{{Name: "DB_SERVICE_HOST", Value: "10.43.0.7"}, {Name: "LOG", Value: "from-service"}, {Name: "NS", Value: ns}}
		}})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u1",
		Labels: map[string]string{"tier": "front"}, Annotations: map[string]string{"team": "a"}},
		Spec: corev1.PodSpec{ServiceAccountName: "sa"}}
	for _, tc := range []struct {
		name      string
		ctr       corev1.Container
		links     *bool
		objs      func(*objects)
		static    bool
		want      []string // NAME=value, in order
		configErr string   // a ConfigError containing this
		err       bool     // another error
	}{
		{
			name: "envFrom in order, invalid names skipped, service variables last",
			ctr: corev1.Container{EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
			}},
			want: []string{"LOG=debug", "bad-key=x", "DB_token=t0k", "DB_user=admin", "DB_SERVICE_HOST=10.43.0.7", "NS=shop"},
		},
		{
			name:  "enableServiceLinks false: no service variables",
			ctr:   corev1.Container{Env: []corev1.EnvVar{{Name: "A", Value: "$(NS)"}}},
			links: ptr(false),
			want:  []string{"A=$(NS)"},
		},
		{
			name: "expansion over earlier variables and the service variables",
			ctr: corev1.Container{Env: []corev1.EnvVar{
				{Name: "GREETING", Value: "hi $(POD)"},
				{Name: "POD", ValueFrom: fieldRef("metadata.name")},
				{Name: "URL", Value: "http://$(POD):80/$(DB_SERVICE_HOST)?c=$$5"},
			}},
			want: []string{"GREETING=hi $(POD)", "POD=web", "URL=http://web:80/10.43.0.7?c=$5", "DB_SERVICE_HOST=10.43.0.7", "LOG=from-service", "NS=shop"},
		},
		{
			name: "fieldRef and resourceFieldRef",
			ctr: corev1.Container{Name: "app", Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
				Env: []corev1.EnvVar{
					{Name: "NS", ValueFrom: fieldRef("metadata.namespace")},
					{Name: "UID", ValueFrom: fieldRef("metadata.uid")},
					{Name: "NODE", ValueFrom: fieldRef("spec.nodeName")},
					{Name: "SA", ValueFrom: fieldRef("spec.serviceAccountName")},
					{Name: "HOST", ValueFrom: fieldRef("status.hostIP")},
					{Name: "IP", ValueFrom: fieldRef("status.podIP")},
					{Name: "IPS", ValueFrom: fieldRef("status.podIPs")},
					{Name: "HOSTS", ValueFrom: fieldRef("status.hostIPs")},
					{Name: "TIER", ValueFrom: fieldRef("metadata.labels['tier']")},
					{Name: "TEAM", ValueFrom: fieldRef("metadata.annotations['team']")},
					{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
					{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
					{Name: "REQ", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.memory", Divisor: resource.MustParse("1Mi")}}},
					{Name: "REQCPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu"}}},
				}},
			links: ptr(false),
			want: []string{"NS=shop", "UID=u1", "NODE=n1", "SA=sa", "HOST=192.168.1.10", "IP=10.42.0.5", "IPS=10.42.0.5", "HOSTS=192.168.1.10", "TIER=front", "TEAM=a",
				"CPU=2", "MEM=1024", "REQ=64", "REQCPU=0"},
		},
		{
			name: "configMapKeyRef and secretKeyRef, optional ones left out",
			ctr: corev1.Container{Env: []corev1.EnvVar{
				{Name: "LOG", ValueFrom: cmKey("cfg", "LOG", false)},
				{Name: "GONE", ValueFrom: cmKey("nope", "x", true)},
				{Name: "NOKEY", ValueFrom: cmKey("cfg", "absent", true)},
				{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token"}}},
			}},
			links: ptr(false),
			want:  []string{"LOG=debug", "TOKEN=t0k"},
		},
		{name: "a missing configmap", ctr: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: cmKey("nope", "x", false)}}},
			configErr: `configmap "nope" not found`},
		{name: "a missing key", ctr: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: cmKey("cfg", "absent", false)}}},
			configErr: "couldn't find key absent in ConfigMap shop/cfg"},
		{name: "a missing secret in envFrom", ctr: corev1.Container{EnvFrom: []corev1.EnvFromSource{
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}},
			configErr: `secret "nope" not found`},
		{name: "an unsupported fieldPath", ctr: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: fieldRef("spec.hostname")}}},
			configErr: `env X: fieldRef.fieldPath "spec.hostname" is not supported`},
		{name: "an unsupported valueFrom", ctr: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			FileKeyRef: &corev1.FileKeySelector{}}}}},
			configErr: "valueFrom.fileKeyRef is not supported by bosun"},
		{name: "services that cannot be listed hold a pod back", objs: func(o *objects) { o.svcErr = errors.New("unreachable") },
			err: true},
		{name: "but not a static pod", objs: func(o *objects) { o.svcErr = errors.New("unreachable") }, static: true,
			ctr: corev1.Container{Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}, want: []string{"A=b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testObjects()
			if tc.objs != nil {
				tc.objs(&o)
			}
			p := pod.DeepCopy()
			p.Spec.EnableServiceLinks = tc.links
			if tc.static {
				p.Annotations[staticpods.AnnotationConfigSource] = "file"
			}
			env, err := r.Env(context.Background(), p, &tc.ctr, "10.42.0.5", o)
			msg, isConfig := podenv.IsConfigError(err)
			switch {
			case tc.configErr != "":
				if !isConfig || !strings.Contains(msg, tc.configErr) {
					t.Fatalf("error %v, want a ConfigError containing %q", err, tc.configErr)
				}
				return
			case tc.err:
				if err == nil || isConfig {
					t.Fatalf("error %v, want an error that is no ConfigError", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			var got []string
			for _, kv := range env.KeyValues() {
				got = append(got, kv.Key+"="+kv.Value)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("env:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": ""}
	mapping := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "abc", "abc"},
		{"defined", "$(A)", "a"},
		{"twice", "$(A)-$(B)", "a-b"},
		{"empty value", "x$(EMPTY)y", "xy"},
		{"escaped", "$$(A)", "$(A)"},
		{"dollar dollar", "$$", "$"},
		{"escaped then var", "$$$(A)", "$a"},
		{"undefined", "$(NOPE)", "$(NOPE)"},
		{"unclosed", "$(A", "$(A"},
		{"lone dollar", "a$", "a$"},
		{"dollar before other", "$x$(A)", "$xa"},
		{"empty name", "$()", "$()"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podenv.Expand(tc.in, mapping); got != tc.want {
				t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
