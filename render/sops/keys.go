package sops

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
)

// Keys are the private keys a Decrypter may use. The zero value holds no
// key: such a Decrypter still recognises and checks encrypted files.
type Keys struct {
	// Age are age identities (X25519 or hybrid post-quantum).
	Age []age.Identity
	// PGP are OpenPGP private keys, not protected by a passphrase.
	PGP openpgp.EntityList
}

// LoadAgeIdentities reads an age key file as SOPS reads SOPS_AGE_KEY_FILE:
// one AGE-SECRET-KEY-1... (or AGE-SECRET-KEY-PQ-1...) per line; blank lines
// and lines starting with # are ignored. Errors name the file and line and
// never contain key material.
func LoadAgeIdentities(path string) ([]age.Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sops: age key file: %w", err)
	}
	return ParseAgeIdentities(path, data)
}

// ParseAgeIdentities parses the content of an age key file (see
// LoadAgeIdentities); name is used in errors.
func ParseAgeIdentities(name string, data []byte) ([]age.Identity, error) {
	var ids []age.Identity
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := parseAgeIdentity(line)
		if err != nil {
			return nil, fmt.Errorf("sops: %s:%d: %w", name, n, err)
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sops: %s: %w", name, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("sops: %s: no age identity (AGE-SECRET-KEY-1...) in the file", name)
	}
	return ids, nil
}

// errBadIdentity is returned instead of age's parse errors, which may quote
// parts of the key.
var errBadIdentity = errors.New("not a valid age identity (want AGE-SECRET-KEY-1... on its own line)")

func parseAgeIdentity(line string) (age.Identity, error) {
	switch {
	case strings.HasPrefix(line, "AGE-SECRET-KEY-PQ-1"):
		id, err := age.ParseHybridIdentity(line)
		if err != nil {
			return nil, errBadIdentity
		}
		return id, nil
	case strings.HasPrefix(line, "AGE-SECRET-KEY-1"):
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, errBadIdentity
		}
		return id, nil
	default:
		return nil, errBadIdentity
	}
}

// LoadPGPKeys reads armored OpenPGP private keys (as gpg
// --export-secret-keys --armor writes them). A key protected by a
// passphrase is an error: export it without one for the server.
func LoadPGPKeys(path string) (openpgp.EntityList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sops: pgp key file: %w", err)
	}
	return ParsePGPKeys(path, data)
}

// ParsePGPKeys parses armored OpenPGP private keys (see LoadPGPKeys); name
// is used in errors.
func ParsePGPKeys(name string, data []byte) (openpgp.EntityList, error) {
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("sops: %s: reading armored PGP keys: %w", name, err)
	}
	for _, e := range list {
		fp := fingerprint(e)
		if e.PrivateKey == nil {
			return nil, fmt.Errorf("sops: %s: PGP key %s is a public key; give the private key", name, fp)
		}
		if e.PrivateKey.Encrypted {
			return nil, fmt.Errorf("sops: %s: PGP key %s is protected by a passphrase; export it without one for bosun", name, fp)
		}
		for _, sk := range e.Subkeys {
			if sk.PrivateKey != nil && sk.PrivateKey.Encrypted {
				return nil, fmt.Errorf("sops: %s: a subkey of PGP key %s is protected by a passphrase; export it without one for bosun", name, fp)
			}
		}
	}
	return list, nil
}

// fingerprint is the key's fingerprint as SOPS writes it (upper-case hex).
func fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(fmt.Sprintf("%x", e.PrimaryKey.Fingerprint))
}
