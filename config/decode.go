package config

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// decode checks a YAML value against the flag's type and returns it as the
// text pflag parses.
func decode(f *pflag.Flag, v *yaml.Node) (*entry, error) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	typ := f.Value.Type()
	if _, ok := f.Value.(pflag.SliceValue); ok {
		return decodeList(f, typ, v)
	}
	if v.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("--%s is a %s: want %s, got %s", f.Name, typ, want(typ), describe(v))
	}
	s, err := scalar(typ, v)
	if err != nil {
		return nil, fmt.Errorf("--%s is a %s: %w", f.Name, typ, err)
	}
	return &entry{scalar: s}, nil
}

// decodeList decodes the value of a slice flag: a list, or one scalar as a
// list of one.
func decodeList(f *pflag.Flag, typ string, v *yaml.Node) (*entry, error) {
	elem := elemType(typ)
	items := []*yaml.Node{v}
	switch v.Kind {
	case yaml.SequenceNode:
		items = v.Content
	case yaml.ScalarNode:
	default:
		return nil, fmt.Errorf("--%s is a %s: want a list of %ss, got %s", f.Name, typ, elem, describe(v))
	}
	list := make([]string, 0, len(items))
	for _, it := range items {
		if it.Kind == yaml.AliasNode && it.Alias != nil {
			it = it.Alias
		}
		if it.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("--%s is a %s: line %d: want %s, got %s", f.Name, typ, it.Line, want(elem), describe(it))
		}
		s, err := scalar(elem, it)
		if err != nil {
			return nil, fmt.Errorf("--%s is a %s: line %d: %w", f.Name, typ, it.Line, err)
		}
		list = append(list, s)
	}
	return &entry{list: list, isList: true}, nil
}

// elemType is the element type of a pflag slice type: "string" for
// "stringSlice" and "stringArray".
func elemType(typ string) string {
	for _, suf := range []string{"Slice", "Array"} {
		if e, ok := strings.CutSuffix(typ, suf); ok {
			return e
		}
	}
	return typ
}

// scalar checks one scalar against a pflag type name and returns its text.
func scalar(typ string, v *yaml.Node) (string, error) {
	tag := v.ShortTag()
	if tag == "!!null" {
		return "", fmt.Errorf("want %s, got no value (write \"\" for an empty string)", want(typ))
	}
	ok := true
	switch kindOf(typ) {
	case "bool":
		ok = tag == "!!bool"
	case "int":
		ok = tag == "!!int"
	case "float":
		ok = tag == "!!int" || tag == "!!float"
	case "duration":
		ok = tag == "!!str" || (tag == "!!int" && v.Value == "0")
	}
	if !ok {
		return "", fmt.Errorf("want %s, got %s", want(typ), describe(v))
	}
	return v.Value, nil
}

// kindOf groups pflag type names: bool, int, float, duration, or string
// for everything parsed from text (strings, IPs, CIDRs, ...).
func kindOf(typ string) string {
	switch typ {
	case "bool":
		return "bool"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "count":
		return "int"
	case "float32", "float64":
		return "float"
	case "duration":
		return "duration"
	}
	return "string"
}

// want describes the YAML a pflag type takes.
func want(typ string) string {
	switch kindOf(typ) {
	case "bool":
		return "true or false"
	case "int":
		return "an integer"
	case "float":
		return "a number"
	case "duration":
		return "a duration such as 30s, 5m or 1h30m"
	}
	return "a string"
}

// describe names what a YAML node holds, for error messages.
func describe(v *yaml.Node) string {
	switch v.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		switch v.ShortTag() {
		case "!!null":
			return "no value"
		case "!!bool":
			return "the bool " + v.Value
		case "!!int":
			return "the integer " + v.Value
		case "!!float":
			return "the number " + v.Value
		default:
			return fmt.Sprintf("the string %q", v.Value)
		}
	}
	return "an unsupported YAML node"
}
