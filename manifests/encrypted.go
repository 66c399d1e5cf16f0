package manifests

import (
	"bytes"
	"errors"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
)

// sopsKeyGroups are the keys of SOPS metadata that list a file's
// recipients (one per key management system).
var sopsKeyGroups = []string{"age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms", "key_groups"}

// plainFile decodes a file read from the tree, decrypting it first when
// the Decrypter of Options says it is encrypted. Objects of a decrypted
// file are marked Encrypted; the plaintext keeps the file's lines.
func (l *loader) plainFile(file string, data []byte) {
	dec := l.opts.Decrypter
	if dec == nil {
		if line, ok := sopsLine(data); ok {
			l.undecrypted = true
			l.d.add(Problem{File: file, Line: line, Message: "encrypted with SOPS but no decryption is configured"})
			return
		}
		l.d.file(file, data)
		return
	}
	if !dec.Encrypted(file, data) {
		l.d.file(file, data)
		return
	}
	plain, err := dec.Decrypt(file, data)
	if err != nil {
		l.undecrypted = true
		line, _ := sopsLine(data)
		if errors.Is(err, ErrNoKey) && l.opts.Live == nil {
			l.d.add(Problem{File: file, Line: line, Warning: true,
				Message: "encrypted with SOPS; its objects are validated only when a key is given (--sops-age-key-file)"})
			return
		}
		l.d.add(Problem{File: file, Line: line, Message: err.Error()})
		return
	}
	no, npart := len(l.d.objects), len(l.d.partial)
	l.d.file(file, plain)
	for i := no; i < len(l.d.objects); i++ {
		l.d.objects[i].Encrypted = true
	}
	for i := npart; i < len(l.d.partial); i++ {
		l.d.partial[i].Encrypted = true
	}
}

// sopsLine reports whether data looks encrypted with SOPS: a document
// whose top-level mapping has a sops mapping holding a mac and at least
// one list of recipients. It is used only when no Decrypter is
// configured, to refuse such a file rather than apply its ciphertext.
// line is the line of the first top-level sops key, even when the file
// does not look encrypted; 0 when there is none.
func sopsLine(data []byte) (line int, looks bool) {
	if !bytes.Contains(data, []byte("sops")) {
		return 0, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := safeDecode(dec, &doc); err != nil {
			return line, false
		}
		l, ok := sopsMetadata(&doc)
		if line == 0 {
			line = l
		}
		if ok {
			return l, true
		}
	}
}

// sopsMetadata finds SOPS metadata in one parsed document.
func sopsMetadata(doc *yaml.Node) (int, bool) {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	for _, p := range mappingPairs(root) {
		if p.key.Value != "sops" {
			continue
		}
		meta := deref(p.val)
		if meta == nil || meta.Kind != yaml.MappingNode {
			return 0, false
		}
		hasMAC, hasKeys := false, false
		for _, m := range mappingPairs(meta) {
			if m.key.Value == "mac" {
				hasMAC = true
			}
			for _, k := range sopsKeyGroups {
				if m.key.Value == k {
					hasKeys = true
				}
			}
		}
		return p.key.Line, hasMAC && hasKeys
	}
	return 0, false
}

// plainSecrets reports every Secret with data that does not come from an
// encrypted file: a warning, or an error when require is set. A Secret
// without data or stringData (a service account token's) holds nothing to
// leak and is not reported.
func plainSecrets(objs []Object, require bool) Problems {
	var ps Problems
	for _, o := range objs {
		s, ok := o.Obj.(*corev1.Secret)
		if !ok || o.Encrypted || (len(s.Data) == 0 && len(s.StringData) == 0) {
			continue
		}
		msg := `this Secret is in Git in plain text: encrypt it with SOPS (see README "Encrypted Secrets")`
		if require {
			msg += "; the server requires encrypted Secrets (--require-encrypted-secrets)"
		}
		ps = append(ps, Problem{File: o.File, Line: o.Line, Object: objectLabel(o.ID()),
			Message: msg + renderedNote(o.RenderedBy), Warning: !require})
	}
	return ps
}
