package sops

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/bosun-dev/bosun/manifests"
)

// Decrypter decrypts SOPS files with the keys it was given. It implements
// manifests.Decrypter and is safe for concurrent use.
type Decrypter struct {
	keys Keys
}

var _ manifests.Decrypter = (*Decrypter)(nil)

// New returns a Decrypter using keys. With no keys (Keys{}) it still
// recognises encrypted files and checks their structure: Decrypt then
// returns an error wrapping manifests.ErrNoKey for a well-formed file.
func New(keys Keys) *Decrypter {
	return &Decrypter{keys: keys}
}

// Encrypted reports whether data (the whole file) was encrypted by SOPS: a
// YAML or JSON file whose first document has a top-level sops mapping, or
// a dotenv (*.env) file with sops_ keys. INI and binary SOPS files are
// reported too, so that Decrypt refuses them clearly.
func (d *Decrypter) Encrypted(file string, data []byte) bool {
	if !bytes.Contains(data, []byte("sops")) {
		return false
	}
	switch formatOf(file) {
	case formatDotenv:
		return bytes.HasPrefix(data, []byte("sops_mac=")) || bytes.Contains(data, []byte("\nsops_mac="))
	case formatINI:
		return bytes.HasPrefix(data, []byte("[sops]")) || bytes.Contains(data, []byte("\n[sops]"))
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil || len(doc.Content) == 0 {
		return false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == metadataKey && root.Content[i+1].Kind == yaml.MappingNode {
			return true
		}
	}
	return false
}

// Decrypt returns the plaintext of an encrypted file: the same lines, each
// encrypted value replaced in place by its plaintext (a one-line
// double-quoted string, or a number or boolean for those types; in a
// dotenv file the raw value with \n escapes), and the sops metadata's lines
// left empty. It checks the file's structure, opens the data key with the
// first age or PGP recipient a given key matches and verifies the MAC.
// Errors name the file and, where known, the line, and never contain
// plaintext; when no given key matches, the error wraps
// manifests.ErrNoKey.
func (d *Decrypter) Decrypt(file string, data []byte) ([]byte, error) {
	p, err := parse(file, data)
	if err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	key, err := dataKey(&p.meta, d.keys)
	if err != nil {
		return nil, fmt.Errorf("sops: %s: %w", file, err)
	}
	return p.decrypt(key)
}

// Check verifies an encrypted file's structure without keys: the metadata
// is present and well formed, and every value the file's rules encrypt is
// an ENC[...] value with valid parts. It does not verify the MAC (that
// needs the data key).
func (d *Decrypter) Check(file string, data []byte) error {
	p, err := parse(file, data)
	if err != nil {
		return err
	}
	return p.check()
}

// Placeholder returns an encrypted file as Decrypt would, but with every
// encrypted value replaced by the zero value of its type ("" for strings, 0,
// 0.0, false) instead of its plaintext, after checking the file's structure
// (Check). It needs no key, and verifies no MAC: its output is for looking
// at the shape of a file offline (bosun validate, bosun render without a
// key), never for applying.
func (d *Decrypter) Placeholder(file string, data []byte) ([]byte, error) {
	p, err := parse(file, data)
	if err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p.placeholder()
}
