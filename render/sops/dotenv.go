package sops

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// dotenvPrefix starts the keys of SOPS's metadata in a dotenv file.
const dotenvPrefix = "sops_"

// parseDotenv reads a dotenv file as SOPS's dotenv store does: KEY=VALUE
// lines with \n escapes, # comments, metadata flattened into sops_ keys.
func parseDotenv(file string, data []byte) (*parsed, error) {
	p := &parsed{file: file, data: data}
	flat := map[string]string{}
	start := 0
	for n := 1; start < len(data); n++ {
		end := lineEnd(data, start)
		line := data[start:end]
		next := end + 1
		if len(line) == 0 || line[0] == '#' {
			start = next
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 {
			return nil, fmt.Errorf("sops: %s:%d: not a KEY=VALUE line", file, n)
		}
		key := string(line[:eq])
		value := strings.ReplaceAll(string(line[eq+1:]), `\n`, "\n")
		if strings.HasPrefix(key, dotenvPrefix) {
			flat[strings.TrimPrefix(key, dotenvPrefix)] = value
			if p.metaLine == 0 {
				p.metaLine = n
			}
			if key == dotenvPrefix+"mac" {
				p.macLine = n
			}
			p.blank = append(p.blank, span{start, end})
		} else {
			l := leaf{path: []string{key}, line: n, str: true, text: value, mac: []byte(value), dotenv: true}
			if strings.HasPrefix(value, "ENC[") {
				l.start, l.end = start+eq+1, end
			}
			p.leaves = append(p.leaves, l)
		}
		start = next
	}
	if p.metaLine == 0 {
		return nil, fmt.Errorf("sops: %s: no sops_ metadata keys", file)
	}
	p.meta, p.metaErr = unflatten(flat)
	return p, nil
}

// unflatten rebuilds the metadata from SOPS's flattened keys
// (age__list_0__map_recipient, lastmodified, ...).
func unflatten(flat map[string]string) (metadata, error) {
	var m metadata
	scalars := map[string]*string{
		"lastmodified": &m.LastModified, "mac": &m.MAC, "version": &m.Version,
		"unencrypted_suffix": &m.UnencryptedSuffix, "encrypted_suffix": &m.EncryptedSuffix,
		"unencrypted_regex": &m.UnencryptedRegex, "encrypted_regex": &m.EncryptedRegex,
		"unencrypted_comment_regex": &m.UnencComment, "encrypted_comment_regex": &m.EncComment,
	}
	others := map[string]*[]map[string]any{"kms": &m.KMS, "gcp_kms": &m.GCPKMS, "azure_kv": &m.AzureKV, "hc_vault": &m.HCVault, "hckms": &m.HCKMS}
	for k, v := range flat {
		if dst, ok := scalars[k]; ok {
			*dst = v
			continue
		}
		if k == "mac_only_encrypted" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return m, fmt.Errorf("mac_only_encrypted: %q is not a boolean", v)
			}
			m.MACOnlyEncrypted = b
			continue
		}
		list, rest, ok := strings.Cut(k, "__list_")
		if !ok {
			continue // shamir_threshold and keys of newer SOPS versions
		}
		idxS, field, ok := strings.Cut(rest, "__map_")
		idx, err := strconv.Atoi(idxS)
		if !ok || err != nil || idx < 0 || idx > 1000 {
			return m, fmt.Errorf("%s: not a flattened list entry", k)
		}
		switch list {
		case "age":
			m.Age = grow(m.Age, idx)
			setAge(&m.Age[idx], field, v)
		case "pgp":
			m.PGP = grow(m.PGP, idx)
			setPGP(&m.PGP[idx], field, v)
		case "key_groups":
			m.KeyGroups = []any{true}
		default:
			if dst, ok := others[list]; ok {
				*dst = grow(*dst, idx)
				if (*dst)[idx] == nil {
					(*dst)[idx] = map[string]any{}
				}
				(*dst)[idx][field] = v
			}
		}
	}
	return m, nil
}

func grow[T any](s []T, idx int) []T {
	for len(s) <= idx {
		var zero T
		s = append(s, zero)
	}
	return s
}

func setAge(a *ageStanza, field, v string) {
	switch field {
	case "recipient":
		a.Recipient = v
	case "enc":
		a.Enc = v
	}
}

func setPGP(p *pgpStanza, field, v string) {
	switch field {
	case "fp":
		p.FP = v
	case "enc":
		p.Enc = v
	case "created_at":
		p.CreatedAt = v
	}
}
