package encryption

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// The apiVersion and kind a key file must have (kube-apiserver's
// --encryption-provider-config format).
const (
	APIVersion = "apiserver.config.k8s.io/v1"
	Kind       = "EncryptionConfiguration"
)

// Provider names as they appear in the key file and in the stored prefix.
const (
	AESGCM    = "aesgcm"
	Secretbox = "secretbox"
	Identity  = "identity"
)

// fileConfig is the key file: a subset of Kubernetes' EncryptionConfiguration.
type fileConfig struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Resources  []resourceConfig `json:"resources"`
}

type resourceConfig struct {
	Resources []string         `json:"resources"`
	Providers []providerConfig `json:"providers"`
}

// providerConfig has one field set. aescbc and kms are known to Kubernetes
// but not to bosun: they are parsed only to be refused by name.
type providerConfig struct {
	AESGCM    *keysConfig `json:"aesgcm,omitempty"`
	Secretbox *keysConfig `json:"secretbox,omitempty"`
	Identity  *struct{}   `json:"identity,omitempty"`
	AESCBC    *keysConfig `json:"aescbc,omitempty"`
	KMS       *struct {
		Name string `json:"name"`
	} `json:"kms,omitempty"`
}

type keysConfig struct {
	Keys []keyConfig `json:"keys"`
}

type keyConfig struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// Load reads a key file (see Parse) and returns its Transformer. Errors
// name the file.
func Load(path string) (*Transformer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("encryption: read key file: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("encryption: key file %s: %w", path, err)
	}
	return t, nil
}

// Parse reads an EncryptionConfiguration (apiVersion
// apiserver.config.k8s.io/v1) with one resources entry for "secrets" whose
// providers are aesgcm (keys of 16, 24 or 32 bytes), secretbox (32 bytes) or
// identity, keys in standard base64. Anything else (other resources,
// aescbc, kms, unknown fields, duplicate key names) is refused with an error
// naming the field.
func Parse(data []byte) (*Transformer, error) {
	var cfg fileConfig
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if cfg.APIVersion != APIVersion || cfg.Kind != Kind {
		return nil, fmt.Errorf("apiVersion %q, kind %q: want %s, %s", cfg.APIVersion, cfg.Kind, APIVersion, Kind)
	}
	if len(cfg.Resources) != 1 {
		return nil, fmt.Errorf("resources: want exactly one entry (for secrets), have %d", len(cfg.Resources))
	}
	rc := cfg.Resources[0]
	if len(rc.Resources) != 1 || rc.Resources[0] != "secrets" {
		return nil, fmt.Errorf("resources[0].resources: %q: bosun encrypts only [secrets]", rc.Resources)
	}
	if len(rc.Providers) == 0 {
		return nil, fmt.Errorf("resources[0].providers: empty: list at least one provider")
	}
	t := &Transformer{}
	for i, pc := range rc.Providers {
		field := fmt.Sprintf("resources[0].providers[%d]", i)
		keys, err := providerKeys(field, pc)
		if err != nil {
			return nil, err
		}
		if err := t.add(field, keys, i == 0); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// providerKeys returns the keys of one provider entry; identity has none.
func providerKeys(field string, pc providerConfig) ([]*key, error) {
	var set []string
	var keys []*key
	if pc.Identity != nil {
		set = append(set, Identity)
	}
	for _, p := range []struct {
		name string
		kc   *keysConfig
	}{{AESGCM, pc.AESGCM}, {Secretbox, pc.Secretbox}} {
		if p.kc == nil {
			continue
		}
		set = append(set, p.name)
		if len(p.kc.Keys) == 0 {
			return nil, fmt.Errorf("%s.%s.keys: empty: list at least one key", field, p.name)
		}
		for j, kc := range p.kc.Keys {
			k, err := newKey(p.name, kc)
			if err != nil {
				return nil, fmt.Errorf("%s.%s.keys[%d]: %w", field, p.name, j, err)
			}
			keys = append(keys, k)
		}
	}
	switch {
	case pc.AESCBC != nil:
		return nil, fmt.Errorf("%s: provider aescbc is not supported: use aesgcm or secretbox", field)
	case pc.KMS != nil:
		return nil, fmt.Errorf("%s: provider kms is not supported: use aesgcm or secretbox", field)
	case len(set) == 0:
		return nil, fmt.Errorf("%s: no provider: want one of aesgcm, secretbox, identity", field)
	case len(set) > 1:
		return nil, fmt.Errorf("%s: %s in one entry: give each provider its own list item", field, strings.Join(set, " and "))
	}
	return keys, nil
}

// newKey decodes one key of provider.
func newKey(provider string, kc keyConfig) (*key, error) {
	if kc.Name == "" {
		return nil, fmt.Errorf("name is empty")
	}
	if strings.Contains(kc.Name, ":") {
		return nil, fmt.Errorf("name %q: must not contain ':'", kc.Name)
	}
	secret, err := base64.StdEncoding.DecodeString(kc.Secret)
	if err != nil {
		return nil, fmt.Errorf("key %q: secret is not base64: %w", kc.Name, err)
	}
	return newSealer(provider, kc.Name, secret)
}
