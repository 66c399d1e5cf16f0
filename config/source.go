package config

import (
	"fmt"
	"strings"
)

// Kind says which layer of the configuration a value came from.
type Kind int

// The layers, lowest precedence first.
const (
	// Default is the flag's default value.
	Default Kind = iota
	// File is a configuration file (the main file or a drop-in).
	File
	// Env is a BOSUN_* environment variable.
	Env
	// CommandLine is a flag given on the command line.
	CommandLine
)

// Position is a place in a configuration file.
type Position struct {
	// File is the file's path as it was opened.
	File string
	// Line is the 1-based line of the key.
	Line int
}

// String returns "file:line".
func (p Position) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Source says where a flag's effective value came from.
type Source struct {
	// Kind is the layer.
	Kind Kind
	// Positions are the keys that made the value, for Kind File: one, or
	// several when "key+:" appended to earlier files' lists.
	Positions []Position
	// Env is the environment variable's name, for Kind Env.
	Env string
}

// String describes the source as --print-config shows it: "from
// /etc/bosun/config.yaml:3", "from BOSUN_DATA_DIR", "from the command
// line" or "default".
func (s Source) String() string {
	switch s.Kind {
	case File:
		ps := make([]string, len(s.Positions))
		for i, p := range s.Positions {
			ps[i] = p.String()
		}
		return "from " + strings.Join(ps, " + ")
	case Env:
		return "from " + s.Env
	case CommandLine:
		return "from the command line"
	default:
		return "default"
	}
}

// EnvName returns the environment variable that sets a flag:
// BOSUN_DATA_DIR for --data-dir.
func EnvName(flag string) string {
	return "BOSUN_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
