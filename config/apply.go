package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// DefaultPath is the configuration file read when --config is not given.
const DefaultPath = "/etc/bosun/config.yaml"

// Options says which files Apply reads and how it treats their keys.
type Options struct {
	// Path is the main configuration file; Path+".d/*.yaml" are its
	// drop-ins. Empty reads no file.
	Path string
	// Explicit says the user named Path (--config or BOSUN_CONFIG): then
	// a missing file is an error; a missing default file is not.
	Explicit bool
	// Environ is the environment, as os.Environ returns it; nil reads no
	// environment variable.
	Environ []string
	// Skip names flags that neither files nor the environment set (for
	// example config, print-config and help).
	Skip []string
	// Ignored reports whether an unknown key names a flag of the other
	// command; such keys are skipped (one file can serve bosun server and
	// bosun agent) instead of refused. Nil refuses every unknown key.
	Ignored func(key string) bool
	// Redact names flags whose values WriteYAML does not print (secrets).
	Redact []string
	// Command names the command in WriteYAML's header ("bosun server").
	Command string
}

// Value is one flag's effective value.
type Value struct {
	// Name is the flag's name.
	Name string
	// Type is pflag's name of the flag's type ("string", "duration",
	// "stringSlice", ...).
	Type string
	// Text is the value as pflag prints it, for flags that are not lists.
	Text string
	// List is the value of a slice flag.
	List []string
	// IsList says the flag is a slice flag.
	IsList bool
	// Source is where the value came from.
	Source Source
}

// Effective is the configuration Apply settled on.
type Effective struct {
	// Files are the configuration files read, in order.
	Files []string
	// Values are every flag's value, sorted by name.
	Values []Value
	// Ignored are the keys skipped as flags of the other command.
	Ignored []Ignored

	redact  map[string]bool
	command string
}

// Apply sets every flag of fs that the command line left unset (fs must be
// parsed already: a flag with Changed set came from the command line) from
// its BOSUN_* environment variable, else from the configuration files,
// later files winning; the rest keep their defaults. Flags set from the
// environment or a file are marked Changed, like flags given on the
// command line. Errors name the file and line, or the variable.
func Apply(fs *pflag.FlagSet, opts Options) (*Effective, error) {
	paths, err := configFiles(opts.Path, opts.Explicit)
	if err != nil {
		return nil, err
	}
	r := &fileReader{flags: fs, skip: set(opts.Skip), ignored: opts.Ignored, values: map[string]*entry{}}
	for _, p := range paths {
		if err := r.readFile(p); err != nil {
			return nil, err
		}
	}
	env := envMap(opts.Environ)
	eff := &Effective{Files: paths, Ignored: r.skipped, redact: set(opts.Redact), command: opts.Command}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if r.skip[f.Name] {
			return
		}
		src, err := fill(fs, f, env, r.values[f.Name])
		if err != nil {
			errs = append(errs, err)
			return
		}
		eff.Values = append(eff.Values, valueOf(f, src))
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return eff, nil
}

// fill sets one flag from the highest layer that has it and says which.
func fill(fs *pflag.FlagSet, f *pflag.Flag, env map[string]string, e *entry) (Source, error) {
	if f.Changed {
		return Source{Kind: CommandLine}, nil
	}
	name := EnvName(f.Name)
	if v, ok := env[name]; ok && v != "" {
		if err := fs.Set(f.Name, v); err != nil {
			return Source{}, fmt.Errorf("config: %s: --%s is a %s: %w", name, f.Name, f.Value.Type(), err)
		}
		return Source{Kind: Env, Env: name}, nil
	}
	if e == nil {
		return Source{Kind: Default}, nil
	}
	pos := e.src.Positions[len(e.src.Positions)-1]
	if sv, ok := f.Value.(pflag.SliceValue); ok && e.isList {
		if err := sv.Replace(e.list); err != nil {
			return Source{}, fmt.Errorf("config: %s: %s: --%s is a %s: %w", pos, f.Name, f.Name, f.Value.Type(), err)
		}
		f.Changed = true
		return e.src, nil
	}
	if err := fs.Set(f.Name, e.scalar); err != nil {
		return Source{}, fmt.Errorf("config: %s: %s: --%s is a %s: %w", pos, f.Name, f.Name, f.Value.Type(), err)
	}
	return e.src, nil
}

// valueOf records a flag's current value.
func valueOf(f *pflag.Flag, src Source) Value {
	v := Value{Name: f.Name, Type: f.Value.Type(), Source: src}
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		v.IsList, v.List = true, sv.GetSlice()
		return v
	}
	v.Text = f.Value.String()
	return v
}

// envMap turns "K=V" entries into a map, later entries winning.
func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// set makes a set of names.
func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
