package sops

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/ProtonMail/go-crypto/openpgp"
	pgparmor "github.com/ProtonMail/go-crypto/openpgp/armor"
	"go.yaml.in/yaml/v3"
)

// Version is the SOPS version Encrypt writes into the metadata: the
// release whose format this package follows.
const Version = "3.13.3"

// EncryptOptions says for whom and how Encrypt encrypts a file. Exactly
// one (or none) of the four rules may be set; none means SOPS's default,
// unencrypted_suffix "_unencrypted".
type EncryptOptions struct {
	// AgeRecipients are age public keys (age1...).
	AgeRecipients []string
	// PGPRecipients are OpenPGP public keys.
	PGPRecipients openpgp.EntityList
	// UnencryptedSuffix leaves values under keys ending with it in clear.
	UnencryptedSuffix string
	// EncryptedSuffix encrypts only values under keys ending with it.
	EncryptedSuffix string
	// UnencryptedRegex leaves values under keys matching it in clear.
	UnencryptedRegex string
	// EncryptedRegex encrypts only values under keys matching it (Flux
	// recommends ^(data|stringData)$ for Secrets).
	EncryptedRegex string
	// MACOnlyEncrypted computes the MAC over the encrypted values only.
	MACOnlyEncrypted bool
	// LastModified is written as the file's lastmodified (required).
	LastModified time.Time
}

// Encrypt encrypts a plaintext YAML, JSON or dotenv (*.env) file in SOPS's
// format, so that the sops CLI and Decrypt both decrypt it. It exists for
// tests and fixtures: users encrypt with the sops CLI. Comments of the
// plaintext are dropped, and YAML and JSON are written again (4-space
// YAML, tab-indented JSON, as SOPS writes them).
func Encrypt(file string, plaintext []byte, opts EncryptOptions) ([]byte, error) {
	if opts.LastModified.IsZero() {
		return nil, fmt.Errorf("sops: encrypt %s: LastModified is required", file)
	}
	if len(opts.AgeRecipients)+len(opts.PGPRecipients) == 0 {
		return nil, fmt.Errorf("sops: encrypt %s: no recipient", file)
	}
	m := metadata{
		LastModified: opts.LastModified.UTC().Format(time.RFC3339), Version: Version,
		UnencryptedSuffix: opts.UnencryptedSuffix, EncryptedSuffix: opts.EncryptedSuffix,
		UnencryptedRegex: opts.UnencryptedRegex, EncryptedRegex: opts.EncryptedRegex,
		MACOnlyEncrypted: opts.MACOnlyEncrypted,
	}
	r, err := m.rules()
	if err != nil {
		return nil, fmt.Errorf("sops: encrypt %s: %w", file, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("sops: encrypt %s: data key: %w", file, err)
	}
	if err := m.addRecipients(key, opts); err != nil {
		return nil, fmt.Errorf("sops: encrypt %s: %w", file, err)
	}
	e := newEncrypter(key, r, opts.MACOnlyEncrypted)
	var out []byte
	switch formatOf(file) {
	case formatYAML, formatJSON:
		out, err = e.yamlFile(file, plaintext, &m)
	case formatDotenv:
		out, err = e.dotenvFile(plaintext, &m)
	default:
		err = errors.New("only .yaml, .yml, .json and .env files are supported")
	}
	if err != nil {
		return nil, fmt.Errorf("sops: encrypt %s: %w", file, err)
	}
	return out, nil
}

// addRecipients encrypts the data key for every recipient.
func (m *metadata) addRecipients(key []byte, opts EncryptOptions) error {
	for _, s := range opts.AgeRecipients {
		rcpts, err := age.ParseRecipients(strings.NewReader(s))
		if err != nil || len(rcpts) != 1 {
			return fmt.Errorf("age recipient %q: not an age public key", s)
		}
		var buf bytes.Buffer
		aw := armor.NewWriter(&buf)
		w, err := age.Encrypt(aw, rcpts[0])
		if err != nil {
			return fmt.Errorf("age recipient %s: %w", s, err)
		}
		if err := writeClose(w, key); err != nil {
			return fmt.Errorf("age recipient %s: %w", s, err)
		}
		if err := aw.Close(); err != nil {
			return fmt.Errorf("age recipient %s: %w", s, err)
		}
		m.Age = append(m.Age, ageStanza{Recipient: s, Enc: buf.String()})
	}
	for _, ent := range opts.PGPRecipients {
		var buf bytes.Buffer
		aw, err := pgparmor.Encode(&buf, "PGP MESSAGE", nil)
		if err != nil {
			return fmt.Errorf("pgp key %s: %w", fingerprint(ent), err)
		}
		w, err := openpgp.Encrypt(aw, []*openpgp.Entity{ent}, nil, &openpgp.FileHints{IsBinary: true}, nil)
		if err != nil {
			return fmt.Errorf("pgp key %s: %w", fingerprint(ent), err)
		}
		if err := writeClose(w, key); err != nil {
			return fmt.Errorf("pgp key %s: %w", fingerprint(ent), err)
		}
		if err := aw.Close(); err != nil {
			return fmt.Errorf("pgp key %s: %w", fingerprint(ent), err)
		}
		m.PGP = append(m.PGP, pgpStanza{CreatedAt: m.LastModified, Enc: buf.String() + "\n", FP: fingerprint(ent)})
	}
	return nil
}

func writeClose(w io.WriteCloser, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Close()
}

// encrypter encrypts the values of one file and computes its MAC.
type encrypter struct {
	key     []byte
	rules   rules
	macOnly bool
	hash    hash.Hash
}

func newEncrypter(key []byte, r rules, macOnly bool) *encrypter {
	e := &encrypter{key: key, rules: r, macOnly: macOnly, hash: sha512.New()}
	if macOnly {
		e.hash.Write(macOnlyInit)
	}
	return e
}

// value encrypts one value (typ and its bytes as SOPS's ToBytes gives
// them) at path and returns the text to store.
func (e *encrypter) value(path []string, typ string, pt []byte, text string) (string, bool, error) {
	enc := e.rules.encrypted(path)
	if !e.macOnly || enc {
		e.hash.Write(pt)
	}
	if !enc || (typ == "str" && len(pt) == 0) {
		return text, false, nil
	}
	s, err := seal(e.key, pt, typ, pathAD(path))
	return s, true, err
}

// mac returns the encrypted MAC for lastmodified ad.
func (e *encrypter) mac(h []byte, ad string) (string, error) {
	return seal(e.key, []byte(fmt.Sprintf("%X", h)), "str", ad)
}

// metadataOut is the metadata as SOPS writes it (empty lists left out).
type metadataOut struct {
	Age               []ageStanza `yaml:"age,omitempty"`
	EncryptedRegex    string      `yaml:"encrypted_regex,omitempty"`
	EncryptedSuffix   string      `yaml:"encrypted_suffix,omitempty"`
	LastModified      string      `yaml:"lastmodified"`
	MAC               string      `yaml:"mac"`
	MACOnlyEncrypted  bool        `yaml:"mac_only_encrypted,omitempty"`
	PGP               []pgpStanza `yaml:"pgp,omitempty"`
	UnencryptedRegex  string      `yaml:"unencrypted_regex,omitempty"`
	UnencryptedSuffix string      `yaml:"unencrypted_suffix,omitempty"`
	Version           string      `yaml:"version"`
}

func (m *metadata) out() metadataOut {
	return metadataOut{Age: m.Age, LastModified: m.LastModified, MAC: m.MAC, PGP: m.PGP,
		UnencryptedSuffix: m.UnencryptedSuffix, EncryptedSuffix: m.EncryptedSuffix,
		UnencryptedRegex: m.UnencryptedRegex, EncryptedRegex: m.EncryptedRegex,
		MACOnlyEncrypted: m.MACOnlyEncrypted, Version: m.Version}
}

// yamlFile encrypts a YAML or JSON file.
func (e *encrypter) yamlFile(file string, data []byte, m *metadata) ([]byte, error) {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: every document must be a mapping", n.Line)
		}
		if err := e.node(n.Content[0], nil); err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
	mac, err := e.mac(e.hash.Sum(nil), m.LastModified)
	if err != nil {
		return nil, err
	}
	m.MAC = mac
	var meta yaml.Node
	if err := meta.Encode(m.out()); err != nil {
		return nil, err
	}
	for _, d := range docs {
		root := d.Content[0]
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: metadataKey}, &meta)
	}
	if formatOf(file) == formatJSON {
		if len(docs) != 1 {
			return nil, errors.New("a JSON file holds one document")
		}
		return emitJSON(docs[0].Content[0])
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(4)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// node encrypts the values under n in place and drops comments.
func (e *encrypter) node(n *yaml.Node, path []string) error {
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			k.HeadComment, k.LineComment, k.FootComment = "", "", ""
			var key any
			if err := k.Decode(&key); err != nil {
				return fmt.Errorf("line %d: %w", k.Line, err)
			}
			s, ok := key.(string)
			if !ok || (len(path) == 0 && s == metadataKey) {
				return fmt.Errorf("line %d: key %q: not allowed (not a string, or sops)", k.Line, k.Value)
			}
			if err := e.node(n.Content[i+1], append(append([]string{}, path...), s)); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if err := e.node(item, path); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		return e.scalar(n, path)
	default:
		return fmt.Errorf("line %d: aliases are not supported", n.Line)
	}
	return nil
}

func (e *encrypter) scalar(n *yaml.Node, path []string) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	var typ string
	var pt []byte
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		typ, pt = "str", []byte(v)
	case int:
		typ, pt = "int", []byte(strconv.Itoa(v))
	case float64:
		typ, pt = "float", []byte(strconv.FormatFloat(v, 'f', -1, 64))
	case bool:
		typ, pt = "bool", boolBytes(v)
	default:
		return fmt.Errorf("line %d: unsupported value type %T", n.Line, v)
	}
	s, changed, err := e.value(path, typ, pt, n.Value)
	if err != nil {
		return err
	}
	if changed {
		n.Value, n.Tag, n.Style = s, "!!str", 0
	}
	return nil
}

// emitJSON writes a mapping node as tab-indented JSON, keeping key order.
func emitJSON(n *yaml.Node) ([]byte, error) {
	var compact bytes.Buffer
	if err := writeJSON(&compact, n); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", "\t"); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quote(n.Content[i].Value) + ":")
			if err := writeJSON(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, item); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return err
		}
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(j)
	}
	return nil
}

// dotenvFile encrypts a dotenv file.
func (e *encrypter) dotenvFile(data []byte, m *metadata) ([]byte, error) {
	var out bytes.Buffer
	for n, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(k, dotenvPrefix) {
			return nil, fmt.Errorf("line %d: want KEY=VALUE with a key not starting with sops_", n+1)
		}
		v = strings.ReplaceAll(v, `\n`, "\n")
		s, _, err := e.value([]string{k}, "str", []byte(v), v)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&out, "%s=%s\n", k, strings.ReplaceAll(s, "\n", `\n`))
	}
	mac, err := e.mac(e.hash.Sum(nil), m.LastModified)
	if err != nil {
		return nil, err
	}
	m.MAC = mac
	for _, kv := range flatten(m) {
		fmt.Fprintf(&out, "%s%s=%s\n", dotenvPrefix, kv[0], strings.ReplaceAll(kv[1], "\n", `\n`))
	}
	return out.Bytes(), nil
}

// flatten lists the metadata as SOPS's flattened keys.
func flatten(m *metadata) [][2]string {
	var kv [][2]string
	for i, a := range m.Age {
		p := fmt.Sprintf("age__list_%d__map_", i)
		kv = append(kv, [2]string{p + "enc", a.Enc}, [2]string{p + "recipient", a.Recipient})
	}
	kv = append(kv, [2]string{"lastmodified", m.LastModified}, [2]string{"mac", m.MAC})
	for i, p := range m.PGP {
		pre := fmt.Sprintf("pgp__list_%d__map_", i)
		kv = append(kv, [2]string{pre + "created_at", p.CreatedAt}, [2]string{pre + "enc", p.Enc}, [2]string{pre + "fp", p.FP})
	}
	for _, r := range [][2]string{{"unencrypted_suffix", m.UnencryptedSuffix}, {"encrypted_suffix", m.EncryptedSuffix},
		{"unencrypted_regex", m.UnencryptedRegex}, {"encrypted_regex", m.EncryptedRegex}} {
		if r[1] != "" {
			kv = append(kv, r)
		}
	}
	if m.MACOnlyEncrypted {
		kv = append(kv, [2]string{"mac_only_encrypted", "true"})
	}
	return append(kv, [2]string{"version", m.Version})
}
