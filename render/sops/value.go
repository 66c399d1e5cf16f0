package sops

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// encRe matches one encrypted value as SOPS writes it.
var encRe = regexp.MustCompile(`^ENC\[AES256_GCM,data:([^,\]]*),iv:([^,\]]*),tag:([^,\]]*),type:([a-z]+)\]$`)

// errAuth reports a value whose GCM authentication failed.
var errAuth = errors.New("authentication failed: the value was changed, or it belongs to another file or key path")

// encValue is one parsed ENC[AES256_GCM,...] value.
type encValue struct {
	data, iv, tag []byte
	typ           string
}

// knownTypes are the value types SOPS writes.
var knownTypes = map[string]bool{"str": true, "int": true, "float": true, "bool": true, "bytes": true, "time": true, "comment": true}

// parseEnc parses s; its errors never quote s.
func parseEnc(s string) (encValue, error) {
	m := encRe.FindStringSubmatch(s)
	if m == nil {
		return encValue{}, errors.New("not of the form ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]")
	}
	var v encValue
	parts := []struct {
		name string
		dst  *[]byte
		src  string
	}{{"data", &v.data, m[1]}, {"iv", &v.iv, m[2]}, {"tag", &v.tag, m[3]}}
	for _, p := range parts {
		b, err := base64.StdEncoding.DecodeString(p.src)
		if err != nil {
			return encValue{}, fmt.Errorf("%s: invalid base64", p.name)
		}
		*p.dst = b
	}
	if len(v.iv) == 0 {
		return encValue{}, errors.New("iv: empty")
	}
	if len(v.tag) != 16 {
		return encValue{}, fmt.Errorf("tag: %d bytes, want 16", len(v.tag))
	}
	if !knownTypes[m[4]] {
		return encValue{}, fmt.Errorf("type: unknown type %q", m[4])
	}
	v.typ = m[4]
	return v, nil
}

// open decrypts v with the data key and the additional data SOPS uses (the
// key path joined by ":" plus ":" for values, lastmodified for the MAC).
func (v encValue) open(key []byte, ad string) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(v.iv))
	if err != nil {
		return nil, fmt.Errorf("iv: %w", err)
	}
	ct := append(append([]byte{}, v.data...), v.tag...)
	pt, err := gcm.Open(nil, v.iv, ct, []byte(ad))
	if err != nil {
		return nil, errAuth
	}
	return pt, nil
}

// seal encrypts plaintext of type typ as SOPS does (AES-256-GCM, 32-byte
// random IV).
func seal(key, plaintext []byte, typ, ad string) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("data key: %w", err)
	}
	iv := make([]byte, 32)
	if _, err := rand.Read(iv); err != nil {
		return "", fmt.Errorf("iv: %w", err)
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return "", fmt.Errorf("iv: %w", err)
	}
	out := gcm.Seal(nil, iv, plaintext, []byte(ad))
	n := len(out) - gcm.Overhead()
	return fmt.Sprintf("ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:%s]",
		base64.StdEncoding.EncodeToString(out[:n]),
		base64.StdEncoding.EncodeToString(iv),
		base64.StdEncoding.EncodeToString(out[n:]), typ), nil
}

// pathAD is the additional data of a value at path.
func pathAD(path []string) string {
	return strings.Join(path, ":") + ":"
}

// macBytes is what SOPS feeds its MAC for a plaintext value of the given
// type (sops.ToBytes on the typed value).
func macBytes(typ string, pt []byte) ([]byte, error) {
	switch typ {
	case "int":
		n, err := strconv.Atoi(string(pt))
		if err != nil {
			return nil, errors.New("type int: the plaintext is not an integer")
		}
		return []byte(strconv.Itoa(n)), nil
	case "float":
		f, err := strconv.ParseFloat(string(pt), 64)
		if err != nil {
			return nil, errors.New("type float: the plaintext is not a number")
		}
		return []byte(strconv.FormatFloat(f, 'f', -1, 64)), nil
	case "bool":
		b, err := strconv.ParseBool(string(pt))
		if err != nil {
			return nil, errors.New("type bool: the plaintext is not a boolean")
		}
		return boolBytes(b), nil
	default:
		return pt, nil
	}
}

func boolBytes(b bool) []byte {
	if b {
		return []byte("True")
	}
	return []byte("False")
}

// literal is the one-line YAML/JSON text that replaces an encrypted value:
// a number or boolean for those types, a double-quoted string otherwise.
func literal(typ string, pt []byte) string {
	switch typ {
	case "int":
		n, _ := strconv.Atoi(string(pt))
		return strconv.Itoa(n)
	case "float":
		f, _ := strconv.ParseFloat(string(pt), 64)
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEIN") {
			s += ".0"
		}
		return s
	case "bool":
		b, _ := strconv.ParseBool(string(pt))
		return strconv.FormatBool(b)
	default:
		return quote(string(pt))
	}
}

// quote returns s as a JSON string, which is also a YAML double-quoted
// scalar on one line.
func quote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
