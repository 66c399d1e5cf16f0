package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bosun-dev/bosun/internal/editdistance"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// entry is one flag's value as the configuration files give it.
type entry struct {
	scalar string
	list   []string
	isList bool
	src    Source
}

// Ignored is a key of a configuration file that names a flag of the other
// command (an agent flag in a server's file), skipped as k3s skips it.
type Ignored struct {
	// Key is the key as written.
	Key string
	// Position is where.
	Position Position
}

// configFiles returns the files to read, in order: path itself (unless it
// does not exist and was not named explicitly) and then the YAML files of
// path.d in lexical order.
func configFiles(path string, explicit bool) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	var out []string
	switch st, err := os.Stat(path); {
	case err == nil && st.IsDir():
		return nil, fmt.Errorf("config: %s: is a directory, want a YAML file", path)
	case err == nil:
		out = append(out, path)
	case errors.Is(err, fs.ErrNotExist) && !explicit:
	default:
		return nil, fmt.Errorf("config: %w", err)
	}
	dropIns, err := dropInFiles(path + ".d")
	if err != nil {
		return nil, err
	}
	return append(out, dropIns...), nil
}

// dropInFiles returns the *.yaml and *.yml files of dir (any case of the
// suffix, as k3s reads them) in lexical order; none when dir is missing.
func dropInFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var out []string
	for _, e := range ents {
		name := strings.ToLower(e.Name())
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	sort.Strings(out)
	return out, nil
}

// fileReader reads configuration files into entries, checking every key
// against the flags.
type fileReader struct {
	flags   *pflag.FlagSet
	skip    map[string]bool
	ignored func(key string) bool
	values  map[string]*entry
	skipped []Ignored
}

// readFile merges one file's keys into r.values, later keys winning.
func (r *fileReader) readFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config: %s:%d: want a mapping of flag names to values, got %s", path, root.Line, describe(root))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if line, ok := seen[k.Value]; ok {
			return fmt.Errorf("config: %s:%d: %s is set twice in this file, first on line %d", path, k.Line, k.Value, line)
		}
		seen[k.Value] = k.Line
		if err := r.readKey(path, k, root.Content[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// readKey merges one key and its value.
func (r *fileReader) readKey(path string, k, v *yaml.Node) error {
	pos := Position{File: path, Line: k.Line}
	key := k.Value
	name, appending := strings.CutSuffix(key, "+")
	if r.skip[name] {
		return fmt.Errorf("config: %s: %s cannot be set in a configuration file", pos, key)
	}
	f := r.flags.Lookup(name)
	if f == nil {
		if r.ignored != nil && r.ignored(name) {
			r.skipped = append(r.skipped, Ignored{Key: key, Position: pos})
			return nil
		}
		return fmt.Errorf("config: %s: unknown key %q%s", pos, key, r.suggest(name))
	}
	e, err := decode(f, v)
	if err != nil {
		return fmt.Errorf("config: %s: %s: %w", pos, key, err)
	}
	e.src = Source{Kind: File, Positions: []Position{pos}}
	if appending {
		if !e.isList {
			return fmt.Errorf("config: %s: %s: only list flags can be appended to, and --%s is a %s", pos, key, name, f.Value.Type())
		}
		if prev := r.values[name]; prev != nil {
			e.list = append(append([]string{}, prev.list...), e.list...)
			e.src.Positions = append(append([]Position{}, prev.src.Positions...), pos)
		}
	}
	r.values[name] = e
	return nil
}

// suggest returns ` (did you mean "x"?)` for the flag name closest to an
// unknown key, or a hint to read --help when none is close.
func (r *fileReader) suggest(key string) string {
	best, bestDist := "", -1
	r.flags.VisitAll(func(f *pflag.Flag) {
		if r.skip[f.Name] {
			return
		}
		d := editdistance.Levenshtein(key, f.Name, 0)
		if bestDist < 0 || d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best == "" || bestDist > max(2, len(key)/3) {
		return ": not a flag of this command (see --help)"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
