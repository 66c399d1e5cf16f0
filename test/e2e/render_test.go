package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/render/sops"
)

// renderShopFiles are a Kustomize base with two overlays, as teams lay
// them out (the prod overlay's encrypted Secret is written by the test).
var renderShopFiles = map[string]string{
	"shop/base/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
configMapGenerator:
  - name: web-config
    literals:
      - GREETING=hello from the shop
`,
	"shop/base/deployment.yaml": `# The shop's web front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
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
          envFrom:
            - configMapRef:
                name: web-config
`,
	"shop/base/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: 8080
`,
	"shop/overlays/staging/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop-staging
namePrefix: staging-
resources:
  - namespace.yaml
  - ../../base
configMapGenerator:
  - name: web-config
    behavior: merge
    literals:
      - STAGE=staging-1
`,
	"shop/overlays/staging/namespace.yaml": `apiVersion: v1
kind: Namespace
metadata:
  name: shop-staging
`,
	"shop/overlays/prod/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop-prod
namePrefix: prod-
resources:
  - namespace.yaml
  - ../../base
  - db-secret.enc.yaml
replicas:
  - name: web
    count: 3
images:
  - name: bosun.local/hello
    newTag: v1
patches:
  - path: tier-patch.yaml
`,
	"shop/overlays/prod/namespace.yaml": `apiVersion: v1
kind: Namespace
metadata:
  name: shop-prod
`,
	"shop/overlays/prod/tier-patch.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      annotations:
        shop.example/tier: prod
`,
}

// renderHelmFiles are a chart in the repository and a bosun-helm.yaml
// rendering it into helm-demo with a values file.
var renderHelmFiles = map[string]string{
	"charts/hello/Chart.yaml": `apiVersion: v2
name: hello
version: 0.1.0
appVersion: "1.0"
`,
	"charts/hello/values.yaml": `replicaCount: 1
image:
  repository: bosun.local/hello
  tag: v1
`,
	"charts/hello/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      containers:
        - name: hello
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          ports:
            - name: http
              containerPort: 8080
`,
	"charts/hello/templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
    - name: http
      port: 80
      targetPort: http
`,
	"apps/hello-helm/bosun-helm.yaml": `apiVersion: bosun.dev/v1alpha1
kind: HelmChart
chart: ../../charts/hello
releaseName: hello
namespace: helm-demo
valueFiles: [values.yaml]
`,
	"apps/hello-helm/values.yaml": `# Values of the helm-demo release.
replicaCount: 2 # scaled by bosun scale
`,
	"namespaces/helm-demo.yaml": `apiVersion: v1
kind: Namespace
metadata:
  name: helm-demo
`,
}

const (
	renderProdKustomization = "shop/overlays/prod/kustomization.yaml"
	renderSecretFile        = "shop/overlays/prod/db-secret.enc.yaml"
)

// renderSecretPlain is the prod overlay's Secret before encryption.
func renderSecretPlain(value string) string {
	return `apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
stringData:
  password: ` + value + "\n"
}

// renderEncrypt encrypts a Secret holding value for the age recipient, as
// the sops CLI would with Flux's encrypted_regex.
func renderEncrypt(t *testing.T, value string, recipient *age.X25519Recipient) string {
	t.Helper()
	b, err := sops.Encrypt(renderSecretFile, []byte(renderSecretPlain(value)), sops.EncryptOptions{
		AgeRecipients:  []string{recipient.String()},
		EncryptedRegex: "^(data|stringData)$",
		LastModified:   time.Now().UTC().Truncate(time.Second),
	})
	if err != nil {
		t.Fatalf("encrypt %s: %v", renderSecretFile, err)
	}
	if strings.Contains(string(b), value) {
		t.Fatalf("the encrypted %s holds the plaintext", renderSecretFile)
	}
	return string(b)
}

// renderPlaintext returns a unique secret value.
func renderPlaintext(t *testing.T, what string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pl41nt3xt-" + what + "-" + hex.EncodeToString(b)
}

// renderLeaks says which of secrets out holds, as is or base64-encoded
// (as a Secret's data is), without repeating them: "secret 1 (base64)".
func renderLeaks(out string, secrets ...string) []string {
	var found []string
	for i, s := range secrets {
		if strings.Contains(out, s) {
			found = append(found, fmt.Sprintf("secret %d (plain)", i+1))
		}
		if strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(s))) {
			found = append(found, fmt.Sprintf("secret %d (base64)", i+1))
		}
	}
	return found
}

// renderPlainSecret is a Secret in plain text (its value is no secret).
const renderPlainSecret = `apiVersion: v1
kind: Secret
metadata:
  name: plain
  namespace: demo
stringData:
  token: not-secret-at-all
`

// renderStep logs how long each step of a test took.
type renderStep struct {
	t     *testing.T
	name  string
	start time.Time
}

// next ends the current step and starts the step name ("" starts none).
func (s *renderStep) next(name string) {
	now := time.Now()
	if s.name != "" {
		s.t.Logf("step %q took %v", s.name, now.Sub(s.start).Round(time.Millisecond))
	}
	s.name, s.start = name, now
}

// TestKustomizeHelmSOPS syncs a repository as teams write them — a
// Kustomize base with staging and prod overlays, a SOPS-encrypted Secret in
// the prod overlay, a Helm chart with a values file — on hollow nodes, and
// changes it through commits, bosun set image and bosun scale: each commit
// applies or is rejected whole, edits land in the overlay or values file
// that feeds the field, a wrong key rejects the commit, and no output of
// the whole test holds the Secret's plaintext.
func TestKustomizeHelmSOPS(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	began := time.Now()
	step := &renderStep{t: t}
	defer step.next("")

	step.next("setup and first sync")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "age.key")
	if err := os.WriteFile(keyFile, []byte("# server's key\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret1 := renderPlaintext(t, "one")
	r := newRepo(t)
	for _, files := range []map[string]string{renderShopFiles, renderHelmFiles} {
		for p, content := range files {
			r.write(p, content)
		}
	}
	r.write(renderSecretFile, renderEncrypt(t, secret1, id.Recipient()))
	first := r.commitAll("shop overlays, hello chart, encrypted db Secret")
	s := startServer(t, r.dir, "--sops-age-key-file", keyFile)
	startHollow(t, s.url, 2, "hollow-render-")
	s.waitNodesReady(2)
	s.waitAttempt(first, "applied")

	step.next("1: first commit applied")
	renderCheckFirst(t, s, secret1)

	step.next("2: two overlays in one commit")
	r.replace(renderProdKustomization, "count: 3", "count: 4")
	r.replace("shop/overlays/staging/kustomization.yaml", "STAGE=staging-1", "STAGE=staging-2")
	stagingCM := s.deployment("shop-staging", "staging-web").Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name
	second := r.commitAll("prod to 4 replicas, staging's STAGE")
	s.waitAttempt(second, "applied")
	renderCheckAtomic(t, s, second, stagingCM)

	step.next("3: a broken overlay rejects the commit whole")
	r.replace("shop/overlays/staging/kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - missing.yaml\n")
	r.replace(renderProdKustomization, "count: 4", "count: 5")
	third := r.commitAll("staging names a missing file, prod to 5")
	st := s.waitAttempt(third, "rejected")
	renderCheckProblem(t, st, "shop/overlays/staging/kustomization.yaml", 8, "missing.yaml")
	if got := *s.deployment("shop-prod", "prod-web").Spec.Replicas; got != 4 {
		t.Errorf("prod replicas after the rejected commit = %d, want 4", got)
	}
	r.git("revert", "--no-edit", "HEAD")
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied")

	step.next("4: bosun set image on an overlay's image")
	renderSetImage(t, s, r, keyFile)

	step.next("5: bosun scale on a Helm-rendered Deployment")
	renderScaleHelm(t, s, r, keyFile)

	step.next("6: a Secret for another key is rejected")
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	secret2 := renderPlaintext(t, "two")
	r.write(renderSecretFile, renderEncrypt(t, secret2, other.Recipient()))
	sixth := r.commitAll("db Secret for another key")
	st = s.waitAttempt(sixth, "rejected")
	renderCheckProblem(t, st, renderSecretFile, 0, "none of the keys given matches")
	renderCheckSecret(t, s, secret1)
	r.git("revert", "--no-edit", "HEAD")
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied")

	step.next("7: a plain Secret is a warning")
	r.write("apps/plain/secret.yaml", renderPlainSecret)
	st = s.waitAttempt(r.commitAll("a plain Secret"), "applied")
	renderCheckWarning(t, st, "apps/plain/secret.yaml")

	step.next("8: no output holds the plaintext")
	secret3 := renderPlaintext(t, "three")
	r.write(renderSecretFile, renderEncrypt(t, secret3, id.Recipient()))
	renderCheckSecrecy(t, s, r, keyFile, secret1, secret2, secret3)

	step.next("7 (second server): --require-encrypted-secrets rejects a plain Secret")
	renderCheckRequireEncrypted(t)
	step.next("")
	t.Logf("TestKustomizeHelmSOPS took %v", time.Since(began).Round(time.Millisecond))
}

// renderCheckFirst checks what the first commit made: the prod overlay's
// Deployment with its sources, the generated ConfigMap, the decrypted
// Secret, the Helm release, and no object of the base on its own.
func renderCheckFirst(t *testing.T, s *server, secret string) {
	t.Helper()
	d := s.deployment("shop-prod", "prod-web")
	if got := *d.Spec.Replicas; got != 3 {
		t.Errorf("prod-web replicas = %d, want 3 (the overlay's replicas: entry)", got)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "bosun.local/hello:v1" {
		t.Errorf("prod-web image = %s, want bosun.local/hello:v1", c.Image)
	}
	if got := d.Spec.Template.Annotations["shop.example/tier"]; got != "prod" {
		t.Errorf("prod-web template annotation shop.example/tier = %q, want prod (the strategic-merge patch)", got)
	}
	// Line 2: the document's first line after the comment, as for plain files.
	if src := d.Annotations[api.AnnotationSource]; src != "shop/base/deployment.yaml:2" {
		t.Errorf("prod-web %s = %q, want shop/base/deployment.yaml:2", api.AnnotationSource, src)
	}
	if by := d.Annotations[api.AnnotationRenderedBy]; by != renderProdKustomization {
		t.Errorf("prod-web %s = %q, want %s", api.AnnotationRenderedBy, by, renderProdKustomization)
	}
	cm := c.EnvFrom[0].ConfigMapRef.Name
	if !regexp.MustCompile(`^prod-web-config-[a-z0-9]{10}$`).MatchString(cm) {
		t.Errorf("prod-web refers to ConfigMap %q, want prod-web-config-HASH", cm)
	}
	o, err := s.apiClient().Get(context.Background(), resource(t, "configmaps"), "shop-prod", cm)
	if err != nil {
		t.Fatalf("get the generated ConfigMap shop-prod/%s: %v", cm, err)
	}
	// A generated object comes from its generator entry.
	if src := o.(*corev1.ConfigMap).Annotations[api.AnnotationSource]; src != "shop/base/kustomization.yaml:7" {
		t.Errorf("ConfigMap shop-prod/%s %s = %q, want shop/base/kustomization.yaml:7 (its configMapGenerator entry)", cm, api.AnnotationSource, src)
	}
	renderCheckSecret(t, s, secret)
	h := s.deployment("helm-demo", "hello")
	if got := *h.Spec.Replicas; got != 2 {
		t.Errorf("helm-demo/hello replicas = %d, want 2 (apps/hello-helm/values.yaml)", got)
	}
	if src, by := h.Annotations[api.AnnotationSource], h.Annotations[api.AnnotationRenderedBy]; !strings.HasPrefix(src, "charts/hello/templates/deployment.yaml:") || by != "apps/hello-helm/bosun-helm.yaml" {
		t.Errorf("helm-demo/hello comes from %q rendered by %q, want charts/hello/templates/deployment.yaml:LINE by apps/hello-helm/bosun-helm.yaml", src, by)
	}
	objs, err := s.apiClient().List(context.Background(), resource(t, "deployments"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		dep := o.(*appsv1.Deployment)
		names = append(names, dep.Namespace+"/"+dep.Name)
		if dep.Name == "web" {
			t.Errorf("the base was rendered on its own: Deployment %s/web exists", dep.Namespace)
		}
	}
	t.Logf("deployments after the first sync: %v", names)
}

// renderCheckSecret checks that the prod Secret holds want.
func renderCheckSecret(t *testing.T, s *server, want string) {
	t.Helper()
	o, err := s.apiClient().Get(context.Background(), resource(t, "secrets"), "shop-prod", "prod-db")
	if err != nil {
		t.Fatalf("get secret shop-prod/prod-db: %v", err)
	}
	sec := o.(*corev1.Secret)
	if src := sec.Annotations[api.AnnotationSource]; src != renderSecretFile+":1" {
		t.Errorf("secret shop-prod/prod-db %s = %q, want %s:1", api.AnnotationSource, src, renderSecretFile)
	}
	got := string(sec.Data["password"])
	if v, ok := sec.StringData["password"]; ok {
		got = v
	}
	if got != want {
		t.Errorf("secret shop-prod/prod-db password is not the decrypted value (%d bytes, want %d)", len(got), len(want))
	}
}

// renderCheckAtomic checks that the commit sha changed both overlays and
// has one history entry, applied.
func renderCheckAtomic(t *testing.T, s *server, sha, oldStagingCM string) {
	t.Helper()
	if got := *s.deployment("shop-prod", "prod-web").Spec.Replicas; got != 4 {
		t.Errorf("prod-web replicas = %d, want 4", got)
	}
	cm := s.deployment("shop-staging", "staging-web").Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name
	if cm == oldStagingCM || !strings.HasPrefix(cm, "staging-web-config-") {
		t.Errorf("staging-web refers to ConfigMap %q after the literal changed (before: %q), want a new hash", cm, oldStagingCM)
	}
	o, err := s.apiClient().Get(context.Background(), resource(t, "configmaps"), "shop-staging", cm)
	if err != nil {
		t.Fatalf("get the new ConfigMap shop-staging/%s: %v", cm, err)
	}
	if got := o.(*corev1.ConfigMap).Data["STAGE"]; got != "staging-2" {
		t.Errorf("ConfigMap shop-staging/%s STAGE = %q, want staging-2", cm, got)
	}
	hist, err := s.apiClient().History(context.Background(), 50)
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	for _, a := range hist {
		if a.Commit.SHA == sha {
			results = append(results, a.Result)
		}
	}
	if len(results) != 1 || results[0] != "applied" {
		t.Errorf("history entries of %.8s = %v, want one, applied", sha, results)
	}
}

// renderCheckProblem checks that the rejected attempt has an error naming
// file (at line when line > 0) with a message containing text.
func renderCheckProblem(t *testing.T, st syncStatus, file string, line int, text string) {
	t.Helper()
	var all []string
	for _, p := range st.LastAttempt.Problems {
		all = append(all, fmt.Sprintf("%s:%d: %s: %s (warning %v)", p.File, p.Line, p.Field, p.Message, p.Warning))
		if !p.Warning && p.File == file && (line == 0 || p.Line == line) && strings.Contains(p.Message, text) {
			return
		}
	}
	t.Errorf("the rejected commit has no error at %s:%d saying %q; problems:\n%s", file, line, text, strings.Join(all, "\n"))
}

// renderCheckWarning checks that the applied attempt warns that file
// holds a plain Secret.
func renderCheckWarning(t *testing.T, st syncStatus, file string) {
	t.Helper()
	for _, p := range st.LastAttempt.Problems {
		if p.Warning && p.File == file && strings.Contains(p.Message, "encrypt it with SOPS") {
			return
		}
	}
	t.Errorf("no warning about the plain Secret in %s: %+v", file, st.LastAttempt.Problems)
}

// renderSetImage runs bosun set image on the prod overlay's Deployment
// (with the key: the edit renders the overlay, Secret included): the
// overlay's images: entry changes, the base does not, and the rollout
// follows on the hollow nodes.
func renderSetImage(t *testing.T, s *server, r *repo, _ string) {
	t.Helper()
	base, err := os.ReadFile(filepath.Join(r.dir, "shop/base/deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Without the prod key: whoever changes an image need not hold the
	// key of the overlay's encrypted Secret (the edit's check render reads
	// it with its values left empty).
	out, code := s.bosun("set", "image", "deploy/prod-web", "-n", "shop-prod", "web=bosun.local/hello:v2",
		"--repo", r.dir, "--sops-age-key-file", "")
	if code != 0 {
		t.Fatalf("bosun set image: exit %d\n%s", code, out)
	}
	head := r.git("rev-parse", "HEAD")
	s.waitAttempt(head, "applied")
	if b, _ := os.ReadFile(filepath.Join(r.dir, "shop/base/deployment.yaml")); string(b) != string(base) {
		t.Errorf("bosun set image changed shop/base/deployment.yaml:\n%s", b)
	}
	k, err := os.ReadFile(filepath.Join(r.dir, renderProdKustomization))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(k), "  - name: bosun.local/hello\n    newTag: v2\n") {
		t.Errorf("bosun set image did not write the prod overlay's images: entry:\n%s", k)
	}
	if files := r.git("show", "--name-only", "--format=", head); files != renderProdKustomization {
		t.Errorf("bosun set image's commit changed %q, want only %s", files, renderProdKustomization)
	}
	if img := s.deployment("shop-prod", "prod-web").Spec.Template.Spec.Containers[0].Image; img != "bosun.local/hello:v2" {
		t.Errorf("prod-web template image = %s, want bosun.local/hello:v2", img)
	}
	s.waitAvailable("shop-prod", "prod-web", 4)
	testutil.Eventually(t, 30*time.Second, "4 prod-web pods of v2 on hollow nodes, none of v1", func() (bool, string) {
		v2, other := 0, 0
		for _, p := range s.pods("shop-prod", "app=web") {
			if p.DeletionTimestamp != nil {
				continue
			}
			if p.Spec.Containers[0].Image == "bosun.local/hello:v2" && strings.HasPrefix(p.Spec.NodeName, "hollow-render-") && podReady(p) {
				v2++
			} else {
				other++
			}
		}
		return v2 == 4 && other == 0, fmt.Sprintf("%d ready v2 pods on hollow nodes, %d others", v2, other)
	})
}

// renderScaleHelm runs bosun scale on the Helm release's Deployment: the
// values file's leaf changes and sync applies it.
func renderScaleHelm(t *testing.T, s *server, r *repo, keyFile string) {
	t.Helper()
	out, code := s.bosun("scale", "deploy/hello", "-n", "helm-demo", "--replicas=4", "--repo", r.dir, "--sops-age-key-file", keyFile)
	if code != 0 {
		t.Fatalf("bosun scale: exit %d\n%s", code, out)
	}
	head := r.git("rev-parse", "HEAD")
	s.waitAttempt(head, "applied")
	b, err := os.ReadFile(filepath.Join(r.dir, "apps/hello-helm/values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "# Values of the helm-demo release.\nreplicaCount: 4 # scaled by bosun scale\n"; string(b) != want {
		t.Errorf("apps/hello-helm/values.yaml after bosun scale:\n%s\nwant:\n%s", b, want)
	}
	if got := *s.deployment("helm-demo", "hello").Spec.Replicas; got != 4 {
		t.Errorf("helm-demo/hello replicas = %d, want 4", got)
	}
	if got := *s.deployment("demo", "hello").Spec.Replicas; got != 3 {
		t.Errorf("demo/hello replicas = %d, want 3 (scale must edit only helm-demo's)", got)
	}
}

// renderCheckSecrecy looks for the Secret's plaintexts in everything the
// test can read: the server log, status, history, diff of an uncommitted
// re-encrypted Secret, render; and finds the current one with
// render --show-secrets, so that a leak would be caught.
func renderCheckSecrecy(t *testing.T, s *server, r *repo, keyFile string, secrets ...string) {
	t.Helper()
	outputs := map[string]string{}
	outputs["bosun status"], _ = s.bosun("status")
	outputs["bosun history"], _ = s.bosun("history")
	diff, code := s.bosun("diff", "--repo", r.dir, "--sops-age-key-file", keyFile)
	if code != 1 || !strings.Contains(diff, "~ Secret shop-prod/prod-db  ("+renderSecretFile+":1)") || strings.Count(diff, "password: <redacted value ") != 2 {
		t.Errorf("bosun diff of the re-encrypted Secret: exit %d, want 1, prod-db changed, its old and new password redacted:\n%s", code, diff)
	}
	if !strings.Contains(diff, "warning: apps/plain/secret.yaml:1: ") || strings.Contains(diff, "warning: warning:") {
		t.Errorf("bosun diff does not warn once about the plain Secret in apps/plain/secret.yaml:\n%s", diff)
	}
	outputs["bosun diff"] = diff
	rendered, code := s.bosun("render", r.dir, "--sops-age-key-file", keyFile)
	if code != 0 || !strings.Contains(rendered, "name: prod-db") {
		t.Errorf("bosun render: exit %d, want 0 and the Secret prod-db\n%s", code, rendered)
	}
	outputs["bosun render"] = rendered
	outputs["server log"] = s.log.String()
	for name, out := range outputs {
		if leaks := renderLeaks(out, secrets...); len(leaks) > 0 {
			t.Errorf("%s holds a Secret's plaintext: %s", name, strings.Join(leaks, ", "))
		}
	}
	shown, code := s.bosun("render", r.dir, "--sops-age-key-file", keyFile, "--show-secrets")
	if leaks := renderLeaks(shown, secrets[len(secrets)-1]); code != 0 || len(leaks) == 0 {
		t.Errorf("bosun render --show-secrets: exit %d, and the working tree's plaintext is not shown", code)
	}
}

// renderCheckRequireEncrypted starts a server with
// --require-encrypted-secrets on a repository with a plain Secret: the
// commit is rejected naming the file.
func renderCheckRequireEncrypted(t *testing.T) {
	t.Helper()
	r := newRepo(t)
	r.write("apps/plain/secret.yaml", renderPlainSecret)
	sha := r.commitAll("a plain Secret")
	s := startServer(t, r.dir, "--require-encrypted-secrets")
	st := s.waitAttempt(sha, "rejected")
	renderCheckProblem(t, st, "apps/plain/secret.yaml", 0, "--require-encrypted-secrets")
}
