package manifests

import (
	"strings"
	"testing"
)

// TestSecretValuesNotInProblems decodes Secrets whose values are wrong in
// every way the decoder and validation report, and checks that no problem
// quotes a value (the secret text), while the problems still point at the
// field.
func TestSecretValuesNotInProblems(t *testing.T) {
	const secret = "hunter2xyzzy"
	tests := []struct {
		name, yaml, field string
	}{
		{"data value not base64", "data:\n  password: " + secret + "!\n", "data[password]"},
		{"data value an integer", "data:\n  pin: 4815162342\n", "data[pin]"},
		{"data not a mapping", "data: " + secret + "\n", "data"},
		{"data value a list", "data:\n  password: [" + secret + "]\n", "data[password]"},
		{"stringData value an integer", "stringData:\n  pin: 4815162342\n", "stringData[pin]"},
		{"stringData not a mapping", "stringData: " + secret + "\n", "stringData"},
		{"dockerconfigjson not JSON", "type: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: bm90LWpzb24taHVudGVyMnh5enp5\n", "data[.dockerconfigjson]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n" + tt.yaml
			objs, ps := Decode("s.yaml", []byte(doc), Limits{})
			ps = append(ps, Validate(objs)...)
			found := false
			for _, p := range ps {
				s := p.String()
				for _, leak := range []string{secret, "4815162342", "not-json", "invalid character"} {
					if strings.Contains(s, leak) {
						t.Errorf("problem quotes the secret value %q: %s", leak, s)
					}
				}
				found = found || p.Field == tt.field
			}
			if !found {
				t.Errorf("no problem about %s:\n%s", tt.field, ps)
			}
		})
	}
}

// TestConfigMapValuesQuoted checks that the redaction is for Secrets only:
// a ConfigMap's wrong value is still quoted, to help fix it.
func TestConfigMapValuesQuoted(t *testing.T) {
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: plainvalue\n"
	_, ps := Decode("c.yaml", []byte(doc), Limits{})
	if !strings.Contains(ps.String(), "plainvalue") {
		t.Errorf("ConfigMap problem does not quote its value:\n%s", ps)
	}
}
