package sops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func TestLoadAgeIdentities(t *testing.T) {
	id1, id2 := newAge(t), newAge(t)
	tests := []struct {
		name    string
		content string
		want    int
		wantErr string
	}{
		{name: "age-keygen file", content: "# created: 2026-12-01\n# public key: " + id1.Recipient().String() + "\n" + id1.String() + "\n", want: 1},
		{name: "two keys and blank lines", content: id1.String() + "\n\n  " + id2.String() + "  \n", want: 2},
		{name: "a public key", content: id1.Recipient().String() + "\n", wantErr: ":1: not a valid age identity"},
		{name: "a damaged key", content: "# k\n" + id1.String()[:40] + "\n", wantErr: ":2: not a valid age identity"},
		{name: "empty", content: "# nothing\n", wantErr: "no age identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "age.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			ids, err := LoadAgeIdentities(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), id1.String()[16:30]) {
					t.Errorf("error quotes key material: %v", err)
				}
				return
			}
			if err != nil || len(ids) != tt.want {
				t.Fatalf("got %d identities, %v; want %d", len(ids), err, tt.want)
			}
			enc := encrypt(t, "s.yaml", "password: x1\n", EncryptOptions{AgeRecipients: []string{id1.Recipient().String()}})
			if _, err := New(Keys{Age: ids}).Decrypt("s.yaml", enc); err != nil {
				t.Errorf("Decrypt with the loaded key: %v", err)
			}
		})
	}
}

func TestEncryptedDetection(t *testing.T) {
	id := newAge(t)
	rcpt := []string{id.Recipient().String()}
	d := New(Keys{Age: []age.Identity{id}})
	tests := []struct {
		name string
		file string
		data []byte
		want bool
	}{
		{"encrypted yaml", "s.yaml", encrypt(t, "s.yaml", secretYAML, EncryptOptions{AgeRecipients: rcpt}), true},
		{"encrypted json", "s.json", encrypt(t, "s.json", `{"a": "b"}`, EncryptOptions{AgeRecipients: rcpt}), true},
		{"encrypted dotenv", "s.env", encrypt(t, "s.env", "A=b\n", EncryptOptions{AgeRecipients: rcpt}), true},
		{"plain secret", "s.yaml", []byte(secretYAML), false},
		{"a key named sops deeper down", "s.yaml", []byte("spec:\n  sops:\n    mac: x\n"), false},
		{"a scalar sops key", "s.yaml", []byte("sops: enabled\n"), false},
		{"dotenv mentioning sops", "s.env", []byte("TOOL=sops\n"), false},
		{"not yaml", "s.yaml", []byte("sops: [unterminated\n"), false},
		{"ini", "s.ini", []byte("[app]\nx = 1\n[sops]\nmac = ENC[]\n"), true},
		{"binary", "cert.pem", []byte(`{"data": "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]", "sops": {"mac": "x"}}`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Encrypted(tt.file, tt.data); got != tt.want {
				t.Errorf("Encrypted = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := d.Decrypt("cert.pem", tests[len(tests)-1].data); err == nil || !strings.Contains(err.Error(), "binary format") {
		t.Errorf("Decrypt of a binary file = %v, want a refusal", err)
	}
}
