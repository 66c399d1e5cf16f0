package sops

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	pgparmor "github.com/ProtonMail/go-crypto/openpgp/armor"
	"go.yaml.in/yaml/v3"

	"github.com/bosun-dev/bosun/manifests"
)

var lastModified = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

const secretYAML = `apiVersion: v1
kind: Secret
metadata:
    name: db
    labels:
        tier: backend
type: Opaque
stringData:
    password: s3cr3t-pa55
    note: |
        line one
        line two
    port: 5432
    ratio: 0.5
    enabled: true
    hosts:
        - alpha.internal
        - beta.internal
    empty: ""
---
apiVersion: v1
kind: ConfigMap
metadata:
    name: settings
data:
    token: tok-XYZ-9
`

// plaintexts are strings of secretYAML that must never appear in errors.
var plaintexts = []string{"s3cr3t-pa55", "line one", "alpha.internal", "tok-XYZ-9"}

func newAge(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func encrypt(t *testing.T, file, plain string, opts EncryptOptions) []byte {
	t.Helper()
	opts.LastModified = lastModified
	out, err := Encrypt(file, []byte(plain), opts)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return out
}

func assertNoPlaintext(t *testing.T, err error) {
	t.Helper()
	for _, p := range plaintexts {
		if err != nil && strings.Contains(err.Error(), p) {
			t.Errorf("error contains plaintext %q: %v", p, err)
		}
	}
}

// decodeAll returns the documents of a YAML stream as generic values.
func decodeAll(t *testing.T, data []byte) []any {
	t.Helper()
	var docs []any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("decoding the output: %v\n%s", err, data)
		}
		if v != nil {
			docs = append(docs, v)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	id := newAge(t)
	tests := []struct {
		name  string
		file  string
		plain string
		opts  EncryptOptions
		// plainAfter lists texts that must stay in clear in the encrypted file.
		plainAfter []string
	}{
		{name: "yaml default suffix", file: "s.yaml", plain: secretYAML},
		{name: "yaml encrypted_regex", file: "s.yaml", plain: secretYAML,
			opts: EncryptOptions{EncryptedRegex: "^(data|stringData)$"}, plainAfter: []string{"name: db", "tier: backend"}},
		{name: "yaml unencrypted_suffix", file: "s.yml", plain: "user_unencrypted: admin\npassword: s3cr3t-pa55\n",
			opts: EncryptOptions{UnencryptedSuffix: "_unencrypted"}, plainAfter: []string{"admin"}},
		{name: "yaml encrypted_suffix", file: "s.yaml", plain: "user: admin\npassword_enc: s3cr3t-pa55\n",
			opts: EncryptOptions{EncryptedSuffix: "_enc"}, plainAfter: []string{"admin"}},
		{name: "yaml unencrypted_regex", file: "s.yaml", plain: "kind: Secret\ndata:\n  password: s3cr3t-pa55\n",
			opts: EncryptOptions{UnencryptedRegex: "^kind$"}, plainAfter: []string{"Secret"}},
		{name: "yaml mac_only_encrypted", file: "s.yaml", plain: secretYAML,
			opts: EncryptOptions{EncryptedRegex: "^(data|stringData)$", MACOnlyEncrypted: true}, plainAfter: []string{"name: db"}},
		{name: "non-ASCII keys and quoted values", file: "s.yaml", plain: "données:\n  clé_é: 's3cr3t-pa55'\n  \"ключ\": [\"alpha.internal\", 42]\n"},
		{name: "json", file: "s.json", plain: `{"kind": "Secret", "stringData": {"password": "s3cr3t-pa55", "port": 5432, "on": true, "hosts": ["alpha.internal"]}}`,
			opts: EncryptOptions{EncryptedRegex: "^stringData$"}, plainAfter: []string{"Secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.AgeRecipients = []string{id.Recipient().String()}
			enc := encrypt(t, tt.file, tt.plain, tt.opts)
			for _, p := range plaintexts {
				if strings.Contains(tt.plain, p) && bytes.Contains(enc, []byte(p)) {
					t.Errorf("encrypted file contains %q", p)
				}
			}
			for _, p := range tt.plainAfter {
				if !bytes.Contains(enc, []byte(p)) {
					t.Errorf("encrypted file lacks clear text %q:\n%s", p, enc)
				}
			}
			d := New(Keys{Age: []age.Identity{id}})
			if !d.Encrypted(tt.file, enc) {
				t.Fatalf("Encrypted = false")
			}
			if d.Encrypted(tt.file, []byte(tt.plain)) {
				t.Fatalf("Encrypted(plaintext) = true")
			}
			if err := d.Check(tt.file, enc); err != nil {
				t.Fatalf("Check: %v", err)
			}
			out, err := d.Decrypt(tt.file, enc)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if got, want := bytes.Count(out, []byte("\n")), bytes.Count(enc, []byte("\n")); got != want {
				t.Errorf("output has %d lines, the encrypted file %d", got, want)
			}
			if strings.HasSuffix(tt.file, ".json") && !json.Valid(out) {
				t.Errorf("decrypted JSON is not valid JSON:\n%s", out)
			}
			if got, want := decodeAll(t, out), decodeAll(t, []byte(tt.plain)); !equalYAML(got, want) {
				t.Errorf("decrypted = %#v\nwant %#v\noutput:\n%s", got, want, out)
			}
		})
	}
}

// equalYAML compares decoded documents through their YAML encoding.
func equalYAML(a, b []any) bool {
	x, _ := yaml.Marshal(a)
	y, _ := yaml.Marshal(b)
	return bytes.Equal(x, y)
}

func TestLinesPreserved(t *testing.T) {
	id := newAge(t)
	enc := encrypt(t, "s.yaml", secretYAML, EncryptOptions{AgeRecipients: []string{id.Recipient().String()}, EncryptedRegex: "^(data|stringData)$"})
	out, err := New(Keys{Age: []age.Identity{id}}).Decrypt("s.yaml", enc)
	if err != nil {
		t.Fatal(err)
	}
	encLines, outLines := strings.Split(string(enc), "\n"), strings.Split(string(out), "\n")
	if len(encLines) != len(outLines) {
		t.Fatalf("%d lines, want %d", len(outLines), len(encLines))
	}
	inSops := false
	for i := range encLines {
		e, o := encLines[i], outLines[i]
		switch {
		case strings.HasPrefix(e, "sops:"):
			inSops = true
		case e == "---" || (inSops && !strings.HasPrefix(e, " ") && e != ""):
			inSops = false
		}
		switch {
		case inSops:
			if o != "" {
				t.Errorf("line %d: metadata line %q not blanked: %q", i+1, e, o)
			}
		case strings.Contains(e, "ENC["):
			k, _, _ := strings.Cut(e, "ENC[")
			if !strings.HasPrefix(o, k) || strings.Contains(o, "ENC[") || len(o) == len(k) {
				t.Errorf("line %d: %q decrypted to %q", i+1, e, o)
			}
		default:
			if e != o {
				t.Errorf("line %d: %q changed to %q", i+1, e, o)
			}
		}
	}
	if !strings.Contains(string(out), `password: "s3cr3t-pa55"`) || !strings.Contains(string(out), `note: "line one\nline two\n"`) ||
		!strings.Contains(string(out), "port: 5432\n") || !strings.Contains(string(out), "enabled: true\n") {
		t.Errorf("values not in place:\n%s", out)
	}
}

func TestDotenv(t *testing.T) {
	id := newAge(t)
	plain := "# database\nDB_PASSWORD=s3cr3t-pa55\nMULTI=line one\\nline two\nUSER_unencrypted=admin\n"
	enc := encrypt(t, "app.env", plain, EncryptOptions{AgeRecipients: []string{id.Recipient().String()}})
	d := New(Keys{Age: []age.Identity{id}})
	if !d.Encrypted("app.env", enc) || d.Encrypted("app.env", []byte(plain)) {
		t.Fatal("Encrypted is wrong")
	}
	out, err := d.Decrypt("app.env", enc)
	if err != nil {
		t.Fatal(err)
	}
	want := "DB_PASSWORD=s3cr3t-pa55\nMULTI=line one\\nline two\nUSER_unencrypted=admin\n"
	if got := strings.TrimRight(string(out), "\n") + "\n"; got != want {
		t.Errorf("decrypted:\n%q\nwant\n%q", got, want)
	}
	if bytes.Count(out, []byte("\n")) != bytes.Count(enc, []byte("\n")) {
		t.Errorf("line count changed")
	}
}

func TestPGPRoundTrip(t *testing.T) {
	ent, err := openpgp.NewEntity("bosun test", "", "test@bosun.dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	var priv bytes.Buffer
	w, err := pgparmor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ent.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	keys, err := ParsePGPKeys("key.asc", priv.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	enc := encrypt(t, "s.yaml", secretYAML, EncryptOptions{PGPRecipients: openpgp.EntityList{ent}, EncryptedRegex: "^(data|stringData)$"})
	out, err := New(Keys{PGP: keys}).Decrypt("s.yaml", enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`password: "s3cr3t-pa55"`)) {
		t.Errorf("not decrypted:\n%s", out)
	}
	stranger, err := openpgp.NewEntity("stranger", "", "x@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	other := newAge(t)
	_, err = New(Keys{Age: []age.Identity{other}, PGP: openpgp.EntityList{stranger}}).Decrypt("s.yaml", enc)
	if !errors.Is(err, manifests.ErrNoKey) || !strings.Contains(err.Error(), "PGP "+fingerprint(ent)) {
		t.Errorf("Decrypt with another key: %v, want ErrNoKey naming the PGP fingerprint", err)
	}
}

func TestPGPKeyWithPassphraseRefused(t *testing.T) {
	ent, err := openpgp.NewEntity("bosun test", "", "test@bosun.dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ent.EncryptPrivateKeys([]byte("hunter2"), nil); err != nil {
		t.Fatal(err)
	}
	var priv bytes.Buffer
	w, _ := pgparmor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err := ent.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := ParsePGPKeys("key.asc", priv.Bytes()); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("ParsePGPKeys = %v, want a passphrase error", err)
	}
}

func TestErrors(t *testing.T) {
	id, other := newAge(t), newAge(t)
	good := encrypt(t, "s.yaml", secretYAML, EncryptOptions{AgeRecipients: []string{id.Recipient().String()}, EncryptedRegex: "^(data|stringData)$"})
	otherFile := encrypt(t, "s.yaml", secretYAML, EncryptOptions{AgeRecipients: []string{id.Recipient().String()}, EncryptedRegex: "^(data|stringData)$"})
	value := func(data []byte, key string) string {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), key) && strings.Contains(l, "ENC[") {
				return l[strings.Index(l, "ENC["):]
			}
		}
		t.Fatalf("no %s", key)
		return ""
	}
	replace := func(old, new string) []byte { return bytes.Replace(good, []byte(old), []byte(new), 1) }
	pw := value(good, "password:")
	tests := []struct {
		name  string
		keys  Keys
		data  []byte
		noKey bool
		want  string
		check bool // Check (no keys) fails too
	}{
		{name: "wrong key", keys: Keys{Age: []age.Identity{other}}, data: good, noKey: true, want: "encrypted for " + id.Recipient().String()},
		{name: "no keys", data: good, noKey: true, want: "none of the keys given matches"},
		{name: "value swapped with another file's", keys: Keys{Age: []age.Identity{id}}, data: replace(pw, value(otherFile, "password:")), want: "s.yaml:9: value at stringData.password cannot be decrypted"},
		{name: "values swapped between keys", keys: Keys{Age: []age.Identity{id}}, data: replace(pw, value(good, "token:")), want: "stringData.password cannot be decrypted"},
		{name: "clear value changed", keys: Keys{Age: []age.Identity{id}}, data: replace("tier: backend", "tier: frontend"), want: "MAC mismatch"},
		{name: "encrypted value removed", keys: Keys{Age: []age.Identity{id}}, data: replace("        - "+value(good, "-"), ""), want: "MAC mismatch"},
		{name: "mac tampered", keys: Keys{Age: []age.Identity{id}}, data: replace("mac: ENC[AES256_GCM,data:", "mac: ENC[AES256_GCM,data:AAAA"), want: "mac cannot be decrypted"},
		{name: "value in clear", keys: Keys{Age: []age.Identity{id}}, data: replace(pw, "s3cr3t-pa55"), want: "s.yaml:9: value at stringData.password is not encrypted", check: true},
		{name: "bad base64", keys: Keys{Age: []age.Identity{id}}, data: replace(pw, strings.Replace(pw, "iv:", "iv:!", 1)), want: "iv: invalid base64", check: true},
		{name: "no lastmodified", data: replace("lastmodified:", "lastmodifie:"), want: "lastmodified", check: true},
		{name: "ini", data: []byte("[sops]\nmac = x\n"), want: "INI format is not supported", check: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := "s.yaml"
			if tt.name == "ini" {
				file = "s.ini"
			}
			_, err := New(tt.keys).Decrypt(file, tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decrypt = %v, want an error containing %q", err, tt.want)
			}
			if errors.Is(err, manifests.ErrNoKey) != tt.noKey {
				t.Errorf("errors.Is(ErrNoKey) = %v, want %v", !tt.noKey, tt.noKey)
			}
			assertNoPlaintext(t, err)
			if cerr := New(Keys{}).Check(file, tt.data); (cerr != nil) != tt.check {
				t.Errorf("Check = %v, want failure %v", cerr, tt.check)
			}
		})
	}
}

func TestInterop(t *testing.T) {
	ids, err := LoadAgeIdentities("testdata/interop/age.key")
	if err != nil {
		t.Fatal(err)
	}
	d := New(Keys{Age: ids})
	tests := []struct{ enc, plain string }{
		{"secret.enc.yaml", "secret.yaml"},
		{"secret-maconly.enc.yaml", "secret-macreg.yaml"},
		{"values.enc.yaml", "values.yaml"},
		{"values-unencrypted-regex.enc.yaml", "values-unencregex.yaml"},
		{"multi.enc.yaml", "multi.yaml"},
		{"config.enc.json", "config.json"},
		{"suffix.enc.yaml", "suffix.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.enc, func(t *testing.T) {
			enc, err := os.ReadFile("testdata/interop/" + tt.enc)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := os.ReadFile("testdata/interop/plain/" + tt.plain)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Encrypted(tt.enc, enc) {
				t.Fatal("Encrypted = false")
			}
			if err := New(Keys{}).Check(tt.enc, enc); err != nil {
				t.Fatalf("Check: %v", err)
			}
			out, err := d.Decrypt(tt.enc, enc)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if bytes.Count(out, []byte("\n")) != bytes.Count(enc, []byte("\n")) {
				t.Errorf("line count changed")
			}
			if strings.HasSuffix(tt.enc, ".json") && !json.Valid(out) {
				t.Errorf("decrypted JSON is not valid JSON:\n%s", out)
			}
			if got, want := decodeAll(t, out), decodeAll(t, plain); !equalYAML(got, want) {
				t.Errorf("decrypted:\n%s\nwant the documents of\n%s", out, plain)
			}
		})
	}
	t.Run("app.enc.env", func(t *testing.T) {
		enc, err := os.ReadFile("testdata/interop/app.enc.env")
		if err != nil {
			t.Fatal(err)
		}
		out, err := d.Decrypt("app.enc.env", enc)
		if err != nil {
			t.Fatal(err)
		}
		want := "DB_PASSWORD=env-secret-password\nAPI_TOKEN=abc123def456\nMULTILINE=one\\ntwo\nPUBLIC_unencrypted=not secret\n"
		if got := string(out); !strings.Contains(got, want) || strings.Contains(got, "sops_") {
			t.Errorf("decrypted:\n%s\nwant\n%s", got, want)
		}
	})
}
