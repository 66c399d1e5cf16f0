package config

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// redacted replaces the value of a secret flag in WriteYAML's output.
const redacted = "<redacted>"

// WriteYAML writes the effective configuration as a YAML configuration
// file, each value followed by a comment saying where it came from (# from
// /etc/bosun/config.yaml:3, # from BOSUN_DATA_DIR, # from the command line,
// # default). Secret flags' values are printed as <redacted>.
func (e *Effective) WriteYAML(w io.Writer) error {
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, v := range e.Values {
		key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.Name}
		val := e.node(v)
		val.LineComment = v.Source.String()
		root.Content = append(root.Content, key, val)
	}
	var buf bytes.Buffer
	buf.WriteString(e.header())
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("config: printing the configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("config: printing the configuration: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("config: printing the configuration: %w", err)
	}
	return nil
}

// header is the comment above the values: the command, the precedence,
// the files read and the keys skipped.
func (e *Effective) header() string {
	var b strings.Builder
	cmd := e.command
	if cmd == "" {
		cmd = "the command"
	}
	fmt.Fprintf(&b, "# Effective configuration of %s.\n", cmd)
	b.WriteString("# Precedence: command line > BOSUN_* environment > later config files > earlier ones > defaults.\n")
	if len(e.Files) == 0 {
		b.WriteString("# Config files read: none.\n")
	}
	for _, f := range e.Files {
		fmt.Fprintf(&b, "# Config file read: %s\n", f)
	}
	for _, ig := range e.Ignored {
		fmt.Fprintf(&b, "# Ignored (a flag of the other command): %s: %s\n", ig.Position, ig.Key)
	}
	return b.String()
}

// node is the YAML value of one flag: a string for strings and durations,
// plain scalars for bools and numbers, a flow list for slice flags.
func (e *Effective) node(v Value) *yaml.Node {
	secret := e.redact[v.Name]
	if v.IsList {
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, s := range v.List {
			if secret {
				s = redacted
			}
			n.Content = append(n.Content, e.scalarNode(v.Type, s))
		}
		return n
	}
	if secret && v.Text != "" {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: redacted}
	}
	return e.scalarNode(v.Type, v.Text)
}

// scalarNode is one value: quoted when a string would read as another type.
func (e *Effective) scalarNode(typ, s string) *yaml.Node {
	switch kindOf(elemType(typ)) {
	case "bool", "int", "float":
		return &yaml.Node{Kind: yaml.ScalarNode, Value: s}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}
