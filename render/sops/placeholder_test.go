package sops

import (
	"bytes"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestPlaceholder checks the offline view of an encrypted file: the same
// lines, no sops metadata, every encrypted value its type's zero value, no
// plaintext, and a broken file refused as Check refuses it.
func TestPlaceholder(t *testing.T) {
	id := newAge(t)
	plain := "kind: Secret\nstringData:\n  password: s3cr3t-pa55\n  port: 5432\n  on: true\n"
	enc := encrypt(t, "s.yaml", plain, EncryptOptions{AgeRecipients: []string{id.Recipient().String()}, EncryptedRegex: "^stringData$"})
	out, err := New(Keys{}).Placeholder("s.yaml", enc)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(out, []byte("\n")) != bytes.Count(enc, []byte("\n")) {
		t.Errorf("lines changed:\n%s", out)
	}
	for _, p := range plaintexts {
		if bytes.Contains(out, []byte(p)) {
			t.Errorf("placeholder output holds %q", p)
		}
	}
	var got map[string]any
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, out)
	}
	if _, ok := got["sops"]; ok {
		t.Errorf("sops metadata kept:\n%s", out)
	}
	sd, _ := got["stringData"].(map[string]any)
	if sd["password"] != "" || sd["port"] != 0 || sd["on"] != false || got["kind"] != "Secret" {
		t.Errorf("values = %v, kind %v; want zero values and the clear kind", sd, got["kind"])
	}

	broken := bytes.Replace(enc, []byte("ENC[AES256_GCM,data:"), []byte("ENC[AES256_GCM,dta:"), 1)
	if _, err := New(Keys{}).Placeholder("s.yaml", broken); err == nil || !strings.Contains(err.Error(), "s.yaml:") {
		t.Errorf("a broken value: err = %v, want the structure error with the line", err)
	}
}
