package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// fakeDecrypter treats a file with a top-level "sops:" line as encrypted:
// its values ENC[...] hold the ROT13 of the plaintext, and the sops
// metadata is the rest of the file. A recipient "nobody" means no key was
// given; a "mac: bad" fails the MAC check.
type fakeDecrypter struct{}

func (fakeDecrypter) Encrypted(_ string, data []byte) bool {
	return bytes.HasPrefix(data, []byte("sops:")) || bytes.Contains(data, []byte("\nsops:"))
}

var encValue = regexp.MustCompile(`ENC\[([^\]]*)\]`)

func (fakeDecrypter) Decrypt(file string, data []byte) ([]byte, error) {
	i := bytes.Index(data, []byte("\nsops:"))
	meta := data[i:]
	switch {
	case bytes.Contains(meta, []byte("recipient: nobody")):
		return nil, fmt.Errorf("sops: %s: %w", file, ErrNoKey)
	case bytes.Contains(meta, []byte("mac: bad")):
		return nil, fmt.Errorf("sops: %s: the MAC does not match: the file was changed after it was encrypted", file)
	}
	return encValue.ReplaceAllFunc(data[:i+1], func(m []byte) []byte {
		return []byte(rot13(string(encValue.FindSubmatch(m)[1])))
	}), nil
}

func rot13(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return 'a' + (r-'a'+13)%26
		case r >= 'A' && r <= 'Z':
			return 'A' + (r-'A'+13)%26
		}
		return r
	}, s)
}

// encryptedSecret is a Secret in namespace shop whose stringData password
// (line 7) is "hunter-two" and whose data token (line 9) is plain text
// where base64 is expected, after the given sops metadata.
func encryptedSecret(meta string) string {
	return `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
stringData:
  password: ENC[uhagre-gjb]
data:
  token: ENC[frperg gbxra]
sops:
  age:
  - recipient: ` + meta + `
`
}

// sopsMeta is the metadata a file encrypted by the sops tool ends with.
const sopsMeta = `sops:
    age:
        - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2026-01-01T00:00:00Z"
    mac: ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]
    version: 3.9.0
`

func TestLoadEncryptedFiles(t *testing.T) {
	// web.yaml defines the Namespace shop and a Service in it selecting
	// pods of app: web, which only the encrypted file defines.
	web := "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n" +
		strings.Replace(fmt.Sprintf(serviceYAML, "web"), "name: web", "name: web\n  namespace: shop", 1)
	encDeploy := strings.Replace(fmt.Sprintf(deploymentYAML, "web"), "name: web", "name: web\n  namespace: shop", 1) +
		"sops:\n  age:\n  - recipient: RECIPIENT\n  mac: ok\n"
	tests := []struct {
		name      string
		recipient string
		decrypter Decrypter
		live      *LiveState
		want      []string
		// wantObjects lists "ID Encrypted" of each object.
		wantObjects []string
	}{
		{
			name: "decrypted file keeps its lines", recipient: "me", decrypter: fakeDecrypter{},
			want: []string{
				"secret.yaml:9: Secret shop/db: data[token]: invalid base64 data (illegal base64 data at input byte 6); values under data must be base64-encoded, put plain text under stringData instead",
			},
			wantObjects: []string{"Deployment shop/web true", "Namespace shop false", "Service shop/web false"},
		},
		{
			name: "no key offline is a warning and the whole-tree checks are skipped", recipient: "nobody", decrypter: fakeDecrypter{},
			want: []string{
				"warning: app.yaml:18: encrypted with SOPS; its objects are validated only when a key is given (--sops-age-key-file)",
				"warning: secret.yaml:10: encrypted with SOPS; its objects are validated only when a key is given (--sops-age-key-file)",
			},
			wantObjects: []string{"Namespace shop false", "Service shop/web false"},
		},
		{
			name: "no key at sync is an error", recipient: "nobody", decrypter: fakeDecrypter{},
			live: &LiveState{Namespaces: map[string]bool{}},
			want: []string{
				"app.yaml:18: sops: app.yaml: no key to decrypt it was given",
				"secret.yaml:10: sops: secret.yaml: no key to decrypt it was given",
			},
			wantObjects: []string{"Namespace shop false", "Service shop/web false"},
		},
		{
			name: "a failed decryption is an error naming the file", recipient: "me\n  mac: bad", decrypter: fakeDecrypter{},
			want: []string{
				"secret.yaml:10: sops: secret.yaml: the MAC does not match: the file was changed after it was encrypted",
			},
			wantObjects: []string{"Deployment shop/web true", "Namespace shop false", "Service shop/web false"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"web.yaml":    {Data: []byte(web)},
				"app.yaml":    {Data: []byte(strings.Replace(encDeploy, "RECIPIENT", tt.recipient, 1))},
				"secret.yaml": {Data: []byte(encryptedSecret(tt.recipient))},
			}
			if tt.recipient == "me\n  mac: bad" {
				fsys["app.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(encDeploy, "RECIPIENT", "me", 1))}
			}
			res, err := Load(fsys, Options{Decrypter: tt.decrypter, Live: tt.live})
			if err != nil {
				t.Fatal(err)
			}
			got := problemStrings(res.Problems)
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, p := range got {
				if strings.Contains(p, "hunter") || strings.Contains(p, "secret token") {
					t.Errorf("problem holds plaintext: %s", p)
				}
			}
			var objs []string
			for _, o := range res.Objects {
				objs = append(objs, fmt.Sprintf("%s %t", o.ID(), o.Encrypted))
			}
			if !slices.Equal(objs, tt.wantObjects) {
				t.Errorf("objects: %q, want %q", objs, tt.wantObjects)
			}
		})
	}
}

func TestLoadSOPSWithoutDecrypter(t *testing.T) {
	tests := []struct {
		name, file, data string
		want             []string
	}{
		{
			name: "sops file", file: "secret.yaml",
			data: "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  password: ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]\n" + sopsMeta,
			want: []string{"secret.yaml:6: encrypted with SOPS but no decryption is configured"},
		},
		{
			name: "sops file in JSON", file: "secret.json",
			data: `{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": "ENC[AES256_GCM,data:abc,type:str]"},
 "sops": {"pgp": [{"fp": "ABCD"}], "mac": "ENC[AES256_GCM,data:abc,type:str]", "version": "3.9.0"}}`,
			want: []string{"secret.json:2: encrypted with SOPS but no decryption is configured"},
		},
		{
			name: "sops key below the top level is not encryption", file: "cm.yaml",
			data: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  sops: |\n    mac: x\n    age: y\n",
		},
		{
			name: "top-level sops without mac is an unknown field", file: "cm.yaml",
			data: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nsops:\n  age: []\n",
			want: []string{`cm.yaml:4: ConfigMap default/c: sops: unknown field "sops"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Load(fstest.MapFS{tt.file: {Data: []byte(tt.data)}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := problemStrings(res.Problems); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestPlainSecrets(t *testing.T) {
	const plain = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: default}\nstringData: {password: x}\n"
	const empty = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  annotations: {kubernetes.io/service-account.name: default}\ntype: kubernetes.io/service-account-token\n"
	encrypted := encryptedSecret("me")
	encrypted = strings.Replace(encrypted, "data:\n  token: ENC[frperg gbxra]\n", "", 1)
	encrypted = strings.Replace(encrypted, "namespace: shop", "namespace: default", 1)
	const note = `this Secret is in Git in plain text: encrypt it with SOPS (see README "Encrypted Secrets")`
	tests := []struct {
		name     string
		files    map[string]string
		rendered []Rendered
		require  bool
		want     []string
	}{
		{name: "plain Secret is a warning", files: map[string]string{"s.yaml": plain},
			want: []string{"warning: s.yaml:1: Secret default/db: " + note}},
		{name: "plain Secret with RequireEncryptedSecrets is an error", files: map[string]string{"s.yaml": plain}, require: true,
			want: []string{"s.yaml:1: Secret default/db: " + note + "; the server requires encrypted Secrets (--require-encrypted-secrets)"}},
		{name: "Secret without data holds nothing to leak", files: map[string]string{"s.yaml": empty}, require: true},
		{name: "encrypted Secret", files: map[string]string{"s.yaml": encrypted}, require: true},
		{name: "rendered plain Secret names the renderer", rendered: []Rendered{rendered("base/s.yaml", 2, plain)},
			want: []string{"warning: base/s.yaml:2: Secret default/db: " + note + " (rendered by overlays/prod/kustomization.yaml)"}},
		{name: "rendered encrypted Secret", require: true,
			rendered: []Rendered{{Data: []byte(plain), File: "base/s.yaml", Line: 2, RenderedBy: renderedBy, Encrypted: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"overlays/prod/kustomization.yaml": broken}
			for name, data := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			r := &fakeRenderer{name: "kustomize", marker: "kustomization.yaml", out: tt.rendered}
			res, err := Load(fsys, Options{Renderers: []Renderer{r}, Decrypter: fakeDecrypter{}, RequireEncryptedSecrets: tt.require})
			if err != nil {
				t.Fatal(err)
			}
			if got := problemStrings(res.Problems); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if len(res.Objects) != 1 {
				t.Errorf("got %d objects, want 1", len(res.Objects))
			}
		})
	}
}

// TestFakeDecrypterKeepsLines checks the test's own fake: its plaintext
// has the lines of the file, as Decrypter promises.
func TestFakeDecrypterKeepsLines(t *testing.T) {
	data := []byte(encryptedSecret("me"))
	plain, err := fakeDecrypter{}.Decrypt("s.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(plain, []byte("  password: hunter-two\n")) || bytes.Contains(plain, []byte("sops")) {
		t.Errorf("plaintext:\n%s", plain)
	}
	if got, want := bytes.Split(plain, []byte("\n"))[6], []byte("  password: hunter-two"); !bytes.Equal(got, want) {
		t.Errorf("line 7 = %q, want %q", got, want)
	}
	if _, err := (fakeDecrypter{}).Decrypt("s.yaml", []byte(encryptedSecret("nobody"))); !errors.Is(err, ErrNoKey) {
		t.Errorf("err = %v, want ErrNoKey", err)
	}
}
