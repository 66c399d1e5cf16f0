package sops

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// metadata is the sops mapping of an encrypted file, as SOPS serialises it.
type metadata struct {
	Age               []ageStanza      `yaml:"age"`
	PGP               []pgpStanza      `yaml:"pgp"`
	KMS               []map[string]any `yaml:"kms"`
	GCPKMS            []map[string]any `yaml:"gcp_kms"`
	AzureKV           []map[string]any `yaml:"azure_kv"`
	HCVault           []map[string]any `yaml:"hc_vault"`
	HCKMS             []map[string]any `yaml:"hckms"`
	KeyGroups         []any            `yaml:"key_groups"`
	LastModified      string           `yaml:"lastmodified"`
	MAC               string           `yaml:"mac"`
	UnencryptedSuffix string           `yaml:"unencrypted_suffix"`
	EncryptedSuffix   string           `yaml:"encrypted_suffix"`
	UnencryptedRegex  string           `yaml:"unencrypted_regex"`
	EncryptedRegex    string           `yaml:"encrypted_regex"`
	UnencComment      string           `yaml:"unencrypted_comment_regex"`
	EncComment        string           `yaml:"encrypted_comment_regex"`
	MACOnlyEncrypted  bool             `yaml:"mac_only_encrypted"`
	Version           string           `yaml:"version"`
}

// ageStanza is one age recipient of the data key.
type ageStanza struct {
	Enc       string `yaml:"enc"`
	Recipient string `yaml:"recipient"`
}

// pgpStanza is one PGP recipient of the data key.
type pgpStanza struct {
	CreatedAt string `yaml:"created_at"`
	Enc       string `yaml:"enc"`
	FP        string `yaml:"fp"`
}

// macOnlyInit is what SOPS writes into the MAC's hash first when
// mac_only_encrypted is set.
var macOnlyInit = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0xb, 0xb, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69}

// rules decides which values of a file are encrypted, as SOPS's
// shouldBeEncrypted does.
type rules struct {
	unencSuffix, encSuffix string
	unencRe, encRe         *regexp.Regexp
}

// encrypted reports whether the value at path is encrypted.
func (r rules) encrypted(path []string) bool {
	switch {
	case r.unencSuffix != "":
		return !anyOf(path, func(p string) bool { return strings.HasSuffix(p, r.unencSuffix) })
	case r.encSuffix != "":
		return anyOf(path, func(p string) bool { return strings.HasSuffix(p, r.encSuffix) })
	case r.unencRe != nil:
		return !anyOf(path, r.unencRe.MatchString)
	case r.encRe != nil:
		return anyOf(path, r.encRe.MatchString)
	}
	return true
}

func anyOf(path []string, f func(string) bool) bool {
	for _, p := range path {
		if f(p) {
			return true
		}
	}
	return false
}

// validate checks the metadata's form and returns the encryption rules and
// the MAC's additional data (lastmodified in RFC 3339).
func (m *metadata) validate() (rules, string, error) {
	if len(m.KeyGroups) > 0 {
		return rules{}, "", errors.New("sops: key_groups (Shamir secret sharing) are not supported by bosun; encrypt for age or PGP recipients without key groups")
	}
	if m.UnencComment != "" || m.EncComment != "" {
		return rules{}, "", errors.New("sops: unencrypted_comment_regex and encrypted_comment_regex are not supported by bosun")
	}
	if m.Version == "" {
		return rules{}, "", errors.New("sops: version: missing")
	}
	t, err := time.Parse(time.RFC3339, m.LastModified)
	if err != nil {
		return rules{}, "", fmt.Errorf("sops: lastmodified: not an RFC 3339 time: %w", err)
	}
	if m.MAC == "" {
		return rules{}, "", errors.New("sops: mac: missing")
	}
	if _, err := parseEnc(m.MAC); err != nil {
		return rules{}, "", fmt.Errorf("sops: mac: %w", err)
	}
	if len(m.recipients()) == 0 {
		return rules{}, "", errors.New("sops: no recipient (age, pgp, kms, ...) of the data key")
	}
	for i, a := range m.Age {
		if !strings.HasPrefix(a.Recipient, "age1") || !strings.Contains(a.Enc, "-----BEGIN AGE ENCRYPTED FILE-----") {
			return rules{}, "", fmt.Errorf("sops: age[%d]: want a recipient age1... and an armored enc", i)
		}
	}
	for i, p := range m.PGP {
		if p.FP == "" || !strings.Contains(p.Enc, "-----BEGIN PGP MESSAGE-----") {
			return rules{}, "", fmt.Errorf("sops: pgp[%d]: want a fingerprint fp and an armored enc", i)
		}
	}
	r, err := m.rules()
	return r, t.Format(time.RFC3339), err
}

// rules returns the file's encryption rule (SOPS allows one at most, and
// defaults to unencrypted_suffix "_unencrypted").
func (m *metadata) rules() (rules, error) {
	n := 0
	for _, s := range []string{m.UnencryptedSuffix, m.EncryptedSuffix, m.UnencryptedRegex, m.EncryptedRegex} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return rules{}, errors.New("sops: more than one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex")
	}
	r := rules{unencSuffix: m.UnencryptedSuffix, encSuffix: m.EncryptedSuffix}
	if n == 0 {
		r.unencSuffix = "_unencrypted"
	}
	var err error
	if m.UnencryptedRegex != "" {
		if r.unencRe, err = regexp.Compile(m.UnencryptedRegex); err != nil {
			return rules{}, fmt.Errorf("sops: unencrypted_regex: %w", err)
		}
	}
	if m.EncryptedRegex != "" {
		if r.encRe, err = regexp.Compile(m.EncryptedRegex); err != nil {
			return rules{}, fmt.Errorf("sops: encrypted_regex: %w", err)
		}
	}
	return r, nil
}

// recipients names every recipient of the data key, for errors.
func (m *metadata) recipients() []string {
	var out []string
	for _, a := range m.Age {
		out = append(out, a.Recipient)
	}
	for _, p := range m.PGP {
		out = append(out, "PGP "+p.FP)
	}
	others := []struct {
		kind string
		list []map[string]any
		key  string
	}{{"AWS KMS", m.KMS, "arn"}, {"GCP KMS", m.GCPKMS, "resource_id"}, {"Azure Key Vault", m.AzureKV, "vault_url"},
		{"Vault", m.HCVault, "vault_address"}, {"HuaweiCloud KMS", m.HCKMS, "key_id"}}
	for _, o := range others {
		for _, k := range o.list {
			out = append(out, fmt.Sprintf("%s %v", o.kind, k[o.key]))
		}
	}
	return out
}
