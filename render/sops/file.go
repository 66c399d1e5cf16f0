package sops

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"path"
	"sort"
	"strings"
)

// format is how SOPS stores a file, chosen by its extension as SOPS does.
type format int

const (
	formatYAML format = iota
	formatJSON
	formatDotenv
	formatINI
	formatOther
)

// formatOf returns the SOPS format of file.
func formatOf(file string) format {
	switch strings.ToLower(path.Ext(file)) {
	case ".yaml", ".yml":
		return formatYAML
	case ".json":
		return formatJSON
	case ".env":
		return formatDotenv
	case ".ini":
		return formatINI
	}
	return formatOther
}

// leaf is one scalar value of an encrypted file's data.
type leaf struct {
	path []string
	line int
	// str is set for string values; text is the string.
	str  bool
	text string
	// mac is what SOPS's MAC takes of the value as it stands (nil for a
	// null, which SOPS skips).
	mac []byte
	// start and end are the bytes of the value in the file, set for values
	// of the form ENC[...].
	start, end int
	dotenv     bool
}

// span is a range of bytes of the file.
type span struct{ start, end int }

// parsed is an encrypted file split into its values and its metadata.
type parsed struct {
	file    string
	data    []byte
	meta    metadata
	metaErr error
	// metaLine and macLine are the lines of the sops metadata and its mac.
	metaLine, macLine int
	leaves            []leaf
	// blank are the bytes of the metadata, removed from the output (their
	// newlines kept).
	blank []span
	rules rules
	macAD string
}

// parse reads an encrypted file of any supported format and checks its
// metadata.
func parse(file string, data []byte) (*parsed, error) {
	var p *parsed
	var err error
	switch formatOf(file) {
	case formatYAML, formatJSON:
		p, err = parseYAML(file, data)
	case formatDotenv:
		p, err = parseDotenv(file, data)
	case formatINI:
		return nil, fmt.Errorf("sops: %s: SOPS's INI format is not supported by bosun; store the values in a .yaml, .json or .env file", file)
	default:
		return nil, fmt.Errorf("sops: %s: encrypted with SOPS in its binary format (chosen by the file's extension), which bosun does not decrypt; store the values in a .yaml, .json or .env file", file)
	}
	if err != nil {
		return nil, err
	}
	if p.metaErr != nil {
		return nil, fmt.Errorf("sops: %s:%d: sops metadata: %w", file, p.metaLine, p.metaErr)
	}
	p.rules, p.macAD, err = p.meta.validate()
	if err != nil {
		return nil, fmt.Errorf("sops: %s:%d: sops metadata: %w", file, p.metaLine, err)
	}
	return p, nil
}

// check verifies that every value the rules encrypt is an ENC[...] value
// of valid form, without keys.
func (p *parsed) check() error {
	for _, l := range p.leaves {
		if l.mac == nil || !p.rules.encrypted(l.path) {
			continue
		}
		if !l.str {
			return p.errorf(l, "is not encrypted, but the file's rules say it must be (was it edited after encryption?)")
		}
		if l.text == "" {
			continue
		}
		if !strings.HasPrefix(l.text, "ENC[") {
			return p.errorf(l, "is not encrypted, but the file's rules say it must be (was it edited after encryption?)")
		}
		if _, err := parseEnc(l.text); err != nil {
			return p.errorf(l, "%v", err)
		}
	}
	return nil
}

func (p *parsed) errorf(l leaf, format string, args ...any) error {
	return fmt.Errorf("sops: %s:%d: value at %s %s", p.file, l.line, strings.Join(l.path, "."), fmt.Sprintf(format, args...))
}

// replacement is new text for the bytes [start, end) of the file.
type replacement struct {
	start, end int
	text       string
}

// decrypt decrypts every encrypted value with the data key, verifies the
// MAC and returns the file with values in place and the metadata blanked.
func (p *parsed) decrypt(key []byte) ([]byte, error) {
	h := sha512.New()
	if p.meta.MACOnlyEncrypted {
		h.Write(macOnlyInit)
	}
	var reps []replacement
	for _, l := range p.leaves {
		if l.mac == nil {
			continue
		}
		enc := p.rules.encrypted(l.path)
		mac := l.mac
		if enc && l.str && l.text != "" {
			ev, err := parseEnc(l.text)
			if err != nil {
				return nil, p.errorf(l, "%v", err)
			}
			pt, err := ev.open(key, pathAD(l.path))
			if err != nil {
				return nil, p.errorf(l, "cannot be decrypted: %v", err)
			}
			if mac, err = macBytes(ev.typ, pt); err != nil {
				return nil, p.errorf(l, "%v", err)
			}
			reps = append(reps, replacement{l.start, l.end, p.literal(l, ev.typ, pt)})
		}
		if !p.meta.MACOnlyEncrypted || enc {
			h.Write(mac)
		}
	}
	if err := p.verifyMAC(key, fmt.Sprintf("%X", h.Sum(nil))); err != nil {
		return nil, err
	}
	for _, b := range p.blank {
		reps = append(reps, replacement{b.start, b.end, string(bytes.Repeat([]byte("\n"), bytes.Count(p.data[b.start:b.end], []byte("\n"))))})
	}
	return splice(p.data, reps), nil
}

func (p *parsed) literal(l leaf, typ string, pt []byte) string {
	if l.dotenv {
		return strings.ReplaceAll(string(pt), "\n", `\n`)
	}
	return literal(typ, pt)
}

// verifyMAC compares the file's MAC with the one computed.
func (p *parsed) verifyMAC(key []byte, computed string) error {
	ev, err := parseEnc(p.meta.MAC)
	if err != nil {
		return fmt.Errorf("sops: %s:%d: mac: %w", p.file, p.macLine, err)
	}
	stored, err := ev.open(key, p.macAD)
	if err != nil {
		return fmt.Errorf("sops: %s:%d: mac cannot be decrypted: %w", p.file, p.macLine, err)
	}
	if string(stored) != computed {
		return fmt.Errorf("sops: %s:%d: MAC mismatch: the file's values were changed after it was encrypted", p.file, p.macLine)
	}
	return nil
}

// splice applies non-overlapping replacements to data.
func splice(data []byte, reps []replacement) []byte {
	sort.Slice(reps, func(i, j int) bool { return reps[i].start < reps[j].start })
	var out bytes.Buffer
	at := 0
	for _, r := range reps {
		if r.start < at {
			continue
		}
		out.Write(data[at:r.start])
		out.WriteString(r.text)
		at = r.end
	}
	out.Write(data[at:])
	return out.Bytes()
}

// placeholder returns the file with every encrypted value replaced by its
// type's zero value and the metadata blanked.
func (p *parsed) placeholder() ([]byte, error) {
	var reps []replacement
	for _, l := range p.leaves {
		if l.mac == nil || !p.rules.encrypted(l.path) || !l.str || l.text == "" {
			continue
		}
		ev, err := parseEnc(l.text)
		if err != nil {
			return nil, p.errorf(l, "%v", err)
		}
		var zero []byte
		switch ev.typ {
		case "int", "float":
			zero = []byte("0")
		case "bool":
			zero = []byte("false")
		}
		reps = append(reps, replacement{l.start, l.end, p.literal(l, ev.typ, zero)})
	}
	for _, b := range p.blank {
		reps = append(reps, replacement{b.start, b.end, string(bytes.Repeat([]byte("\n"), bytes.Count(p.data[b.start:b.end], []byte("\n"))))})
	}
	return splice(p.data, reps), nil
}
