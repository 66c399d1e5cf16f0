package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// newFlags returns flags of each type bosun's commands use.
func newFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("data-dir", "/var/lib/bosun", "")
	fs.String("token", "", "")
	fs.String("branch", "", "")
	fs.Duration("interval", 30*time.Second, "")
	fs.Bool("no-agent", false, "")
	fs.StringSlice("tls-san", nil, "")
	fs.StringSlice("cni-bin-dir", []string{"/usr/lib/cni"}, "")
	fs.Float64("webhook-rate", 1, "")
	fs.Int("etcd-max-txn-ops", 128, "")
	fs.String("config", DefaultPath, "")
	fs.Bool("print-config", false, "")
	return fs
}

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// apply parses args, writes files into a temporary directory and applies
// DIR/config.yaml; positions in sources read "config.yaml:N" with DIR cut.
func apply(t *testing.T, files map[string]string, env, args []string, opts Options) (*pflag.FlagSet, *Effective, string, error) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	fs := newFlags()
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	opts.Path = filepath.Join(dir, "config.yaml")
	opts.Environ = env
	opts.Skip = []string{"config", "print-config"}
	eff, err := Apply(fs, opts)
	return fs, eff, dir, err
}

// sourceOf returns the source of a flag with dir cut from file paths.
func sourceOf(eff *Effective, dir, name string) string {
	for _, v := range eff.Values {
		if v.Name == name {
			return strings.ReplaceAll(v.Source.String(), dir+string(filepath.Separator), "")
		}
	}
	return "(no such flag)"
}

func TestApplyPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		env     []string
		args    []string
		flag    string
		want    string
		wantSrc string
	}{
		{name: "default", flag: "data-dir", want: "/var/lib/bosun", wantSrc: "default"},
		{name: "main file", files: map[string]string{"config.yaml": "branch: main\ndata-dir: /srv/a\n"},
			flag: "data-dir", want: "/srv/a", wantSrc: "from config.yaml:2"},
		{name: "drop-in over main file",
			files: map[string]string{"config.yaml": "data-dir: /srv/a\n", "config.yaml.d/10-x.yaml": "data-dir: /srv/b\n"},
			flag:  "data-dir", want: "/srv/b", wantSrc: "from config.yaml.d/10-x.yaml:1"},
		{name: "later drop-in over earlier",
			files: map[string]string{"config.yaml.d/20-b.yaml": "data-dir: /srv/b\n", "config.yaml.d/10-a.yaml": "data-dir: /srv/a\n"},
			flag:  "data-dir", want: "/srv/b", wantSrc: "from config.yaml.d/20-b.yaml:1"},
		{name: "drop-ins without main file",
			files: map[string]string{"config.yaml.d/a.yaml": "data-dir: /srv/a\n"},
			flag:  "data-dir", want: "/srv/a", wantSrc: "from config.yaml.d/a.yaml:1"},
		{name: "only .yaml and .yml drop-ins",
			files: map[string]string{"config.yaml.d/a.yaml": "data-dir: /srv/a\n", "config.yaml.d/b.YML": "data-dir: /srv/b\n",
				"config.yaml.d/c.yaml.bak": "data-dir: /srv/bak\n", "config.yaml.d/d.yaml/x.yaml": "data-dir: /srv/dir\n"},
			flag: "data-dir", want: "/srv/b", wantSrc: "from config.yaml.d/b.YML:1"},
		{name: "env over files",
			files: map[string]string{"config.yaml": "data-dir: /srv/a\n", "config.yaml.d/a.yaml": "data-dir: /srv/b\n"},
			env:   []string{"BOSUN_DATA_DIR=/srv/env"},
			flag:  "data-dir", want: "/srv/env", wantSrc: "from BOSUN_DATA_DIR"},
		{name: "empty env variable is unset",
			files: map[string]string{"config.yaml": "data-dir: /srv/a\n"}, env: []string{"BOSUN_DATA_DIR="},
			flag: "data-dir", want: "/srv/a", wantSrc: "from config.yaml:1"},
		{name: "command line over env and files",
			files: map[string]string{"config.yaml": "data-dir: /srv/a\n"}, env: []string{"BOSUN_DATA_DIR=/srv/env"},
			args: []string{"--data-dir=/srv/cli"},
			flag: "data-dir", want: "/srv/cli", wantSrc: "from the command line"},
		{name: "number-like string", files: map[string]string{"config.yaml": "branch: 2024\n"},
			flag: "branch", want: "2024", wantSrc: "from config.yaml:1"},
		{name: "bool from file", files: map[string]string{"config.yaml": "no-agent: true\n"},
			flag: "no-agent", want: "true", wantSrc: "from config.yaml:1"},
		{name: "bool from env over file", files: map[string]string{"config.yaml": "no-agent: true\n"},
			env:  []string{"BOSUN_NO_AGENT=false"},
			flag: "no-agent", want: "false", wantSrc: "from BOSUN_NO_AGENT"},
		{name: "bool on command line over file", files: map[string]string{"config.yaml": "no-agent: false\n"},
			args: []string{"--no-agent"},
			flag: "no-agent", want: "true", wantSrc: "from the command line"},
		{name: "duration", files: map[string]string{"config.yaml": "interval: 1m30s\n"},
			flag: "interval", want: "1m30s", wantSrc: "from config.yaml:1"},
		{name: "duration from env", files: map[string]string{"config.yaml": "interval: 1m\n"},
			env:  []string{"BOSUN_INTERVAL=2h"},
			flag: "interval", want: "2h0m0s", wantSrc: "from BOSUN_INTERVAL"},
		{name: "integer", files: map[string]string{"config.yaml": "etcd-max-txn-ops: 256\n"},
			flag: "etcd-max-txn-ops", want: "256", wantSrc: "from config.yaml:1"},
		{name: "float given an integer", files: map[string]string{"config.yaml": "webhook-rate: 5\n"},
			flag: "webhook-rate", want: "5", wantSrc: "from config.yaml:1"},
		{name: "list", files: map[string]string{"config.yaml": "tls-san:\n  - a.example\n  - 10.0.0.1\n"},
			flag: "tls-san", want: "a.example,10.0.0.1", wantSrc: "from config.yaml:1"},
		{name: "list replaces the default", files: map[string]string{"config.yaml": "cni-bin-dir: [/opt/cni]\n"},
			flag: "cni-bin-dir", want: "/opt/cni", wantSrc: "from config.yaml:1"},
		{name: "one scalar is a list of one", files: map[string]string{"config.yaml": "tls-san: a.example\n"},
			flag: "tls-san", want: "a.example", wantSrc: "from config.yaml:1"},
		{name: "later file replaces a list",
			files: map[string]string{"config.yaml": "tls-san: [a, b]\n", "config.yaml.d/x.yaml": "tls-san: [c]\n"},
			flag:  "tls-san", want: "c", wantSrc: "from config.yaml.d/x.yaml:1"},
		{name: "key+ appends to earlier files",
			files: map[string]string{"config.yaml": "tls-san: [a, b]\n", "config.yaml.d/x.yaml": "\ntls-san+: [c]\n"},
			flag:  "tls-san", want: "a,b,c", wantSrc: "from config.yaml:1 + config.yaml.d/x.yaml:2"},
		{name: "key+ without earlier value",
			files: map[string]string{"config.yaml.d/x.yaml": "tls-san+: [c]\n"},
			flag:  "tls-san", want: "c", wantSrc: "from config.yaml.d/x.yaml:1"},
		{name: "list from env, comma-separated", files: map[string]string{"config.yaml": "tls-san: [a]\n"},
			env:  []string{"BOSUN_TLS_SAN=x,y"},
			flag: "tls-san", want: "x,y", wantSrc: "from BOSUN_TLS_SAN"},
		{name: "list on command line over file", files: map[string]string{"config.yaml": "tls-san: [a]\n"},
			args: []string{"--tls-san=x", "--tls-san=y"},
			flag: "tls-san", want: "x,y", wantSrc: "from the command line"},
		{name: "empty file", files: map[string]string{"config.yaml": ""},
			flag: "data-dir", want: "/var/lib/bosun", wantSrc: "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, eff, dir, err := apply(t, tt.files, tt.env, tt.args, Options{})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			f := fs.Lookup(tt.flag)
			got := f.Value.String()
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				got = strings.Join(sv.GetSlice(), ",")
			}
			if got != tt.want {
				t.Errorf("--%s = %q, want %q", tt.flag, got, tt.want)
			}
			if src := sourceOf(eff, dir, tt.flag); src != tt.wantSrc {
				t.Errorf("source of --%s = %q, want %q", tt.flag, src, tt.wantSrc)
			}
			if changed := fs.Changed(tt.flag); changed != (tt.wantSrc != "default") {
				t.Errorf("Changed(%q) = %v with source %q", tt.flag, changed, tt.wantSrc)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		env   []string
		want  string
	}{
		{name: "unknown key, close to a flag", files: map[string]string{"config.yaml": "branch: main\ndata-dri: /srv\n"},
			want: `config.yaml:2: unknown key "data-dri" (did you mean "data-dir"?)`},
		{name: "unknown key, far from every flag", files: map[string]string{"config.yaml": "kubelet-arg: [x]\n"},
			want: `config.yaml:1: unknown key "kubelet-arg": not a flag of this command`},
		{name: "unknown key in a drop-in", files: map[string]string{"config.yaml.d/a.yaml": "\n\nintreval: 5s\n"},
			want: `config.yaml.d/a.yaml:3: unknown key "intreval" (did you mean "interval"?)`},
		{name: "bool given a string", files: map[string]string{"config.yaml": "no-agent: yes\n"},
			want: `config.yaml:1: no-agent: --no-agent is a bool: want true or false, got the string "yes"`},
		{name: "integer given a string", files: map[string]string{"config.yaml": "etcd-max-txn-ops: many\n"},
			want: `config.yaml:1: etcd-max-txn-ops: --etcd-max-txn-ops is a int: want an integer, got the string "many"`},
		{name: "duration given a number", files: map[string]string{"config.yaml": "interval: 30\n"},
			want: `config.yaml:1: interval: --interval is a duration: want a duration such as 30s, 5m or 1h30m, got the integer 30`},
		{name: "bad duration", files: map[string]string{"config.yaml": "data-dir: /x\ninterval: soon\n"},
			want: `config.yaml:2: interval: --interval is a duration: invalid argument "soon"`},
		{name: "string given a list", files: map[string]string{"config.yaml": "data-dir: [a, b]\n"},
			want: `config.yaml:1: data-dir: --data-dir is a string: want a string, got a list`},
		{name: "list given a mapping", files: map[string]string{"config.yaml": "tls-san:\n  a: b\n"},
			want: `config.yaml:1: tls-san: --tls-san is a stringSlice: want a list of strings, got a mapping`},
		{name: "no value", files: map[string]string{"config.yaml": "data-dir:\n"},
			want: `config.yaml:1: data-dir: --data-dir is a string: want a string, got no value`},
		{name: "append to a non-list", files: map[string]string{"config.yaml": "data-dir+: /x\n"},
			want: `config.yaml:1: data-dir+: only list flags can be appended to, and --data-dir is a string`},
		{name: "key twice in one file", files: map[string]string{"config.yaml": "data-dir: /a\nbranch: x\ndata-dir: /b\n"},
			want: `config.yaml:3: data-dir is set twice in this file, first on line 1`},
		{name: "config in a file", files: map[string]string{"config.yaml": "config: /other.yaml\n"},
			want: `config.yaml:1: config cannot be set in a configuration file`},
		{name: "not a mapping", files: map[string]string{"config.yaml": "- data-dir\n"},
			want: `config.yaml:1: want a mapping of flag names to values, got a list`},
		{name: "bad YAML", files: map[string]string{"config.yaml": "data-dir: [\n"},
			want: `config.yaml: yaml:`},
		{name: "bad env value", env: []string{"BOSUN_INTERVAL=soon"},
			want: `config: BOSUN_INTERVAL: --interval is a duration: invalid argument "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, dir, err := apply(t, tt.files, tt.env, nil, Options{})
			if err == nil {
				t.Fatalf("Apply succeeded, want an error containing %q", tt.want)
			}
			if got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""); !strings.Contains(got, tt.want) {
				t.Errorf("error %q does not contain %q", got, tt.want)
			}
		})
	}
}

func TestConfigFileMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "config.yaml")
	tests := []struct {
		name     string
		explicit bool
		wantErr  bool
	}{
		{name: "default path missing is fine", explicit: false},
		{name: "explicit path missing is an error", explicit: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFlags()
			_, err := Apply(fs, Options{Path: missing, Explicit: tt.explicit})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Apply: err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), missing) {
				t.Errorf("error %q does not name %s", err, missing)
			}
		})
	}
}

func TestIgnoredKeys(t *testing.T) {
	other := map[string]bool{"cleanup": true}
	files := map[string]string{"config.yaml": "data-dir: /srv\ncleanup: true\n"}
	fs, eff, dir, err := apply(t, files, nil, nil, Options{Ignored: func(k string) bool { return other[k] }})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := fs.Lookup("data-dir").Value.String(); got != "/srv" {
		t.Errorf("--data-dir = %q, want /srv", got)
	}
	if len(eff.Ignored) != 1 || eff.Ignored[0].Key != "cleanup" || eff.Ignored[0].Position != (Position{File: filepath.Join(dir, "config.yaml"), Line: 2}) {
		t.Errorf("Ignored = %+v, want cleanup at config.yaml:2", eff.Ignored)
	}
	// Without Ignored the same key is refused.
	if _, _, _, err := apply(t, files, nil, nil, Options{}); err == nil || !strings.Contains(err.Error(), `unknown key "cleanup"`) {
		t.Errorf("Apply without Ignored: err = %v, want unknown key cleanup", err)
	}
}

func TestWriteYAML(t *testing.T) {
	files := map[string]string{
		"config.yaml":           "data-dir: /srv/bosun\ntoken: abcdef.0123456789abcdef\ntls-san: [a.example]\n",
		"config.yaml.d/x.yaml":  "tls-san+: [\"10.0.0.1\"]\n",
		"config.yaml.d/y.yml":   "branch: \"true\"\n",
		"config.yaml.d/w.yaml~": "branch: ignored\n",
	}
	env := []string{"BOSUN_NO_AGENT=true"}
	_, eff, dir, err := apply(t, files, env, []string{"--etcd-max-txn-ops=7"}, Options{Redact: []string{"token"}, Command: "bosun server"})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var b strings.Builder
	if err := eff.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(b.String(), dir+string(filepath.Separator), "")
	for _, want := range []string{
		"# Effective configuration of bosun server.\n",
		"# Config file read: config.yaml\n",
		"# Config file read: config.yaml.d/x.yaml\n",
		"\nbranch: \"true\" # from config.yaml.d/y.yml:1\n",
		"\ndata-dir: /srv/bosun # from config.yaml:1\n",
		"\netcd-max-txn-ops: 7 # from the command line\n",
		"\ninterval: 30s # default\n",
		"\nno-agent: true # from BOSUN_NO_AGENT\n",
		"\ntls-san: [a.example, 10.0.0.1] # from config.yaml:3 + config.yaml.d/x.yaml:1\n",
		"\ntoken: <redacted> # from config.yaml:2\n",
		"\nwebhook-rate: 1 # default\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"abcdef", "ignored", "print-config", "\nconfig:"} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q:\n%s", bad, out)
		}
	}
}

// TestWriteYAMLRoundTrip checks that the printed configuration, read back
// as a configuration file, gives the same values.
func TestWriteYAMLRoundTrip(t *testing.T) {
	files := map[string]string{"config.yaml": "data-dir: /srv/bosun\nbranch: \"0755\"\ntls-san: [a, \"yes\"]\ninterval: 1m\nno-agent: true\nwebhook-rate: 2.5\n"}
	_, eff, _, err := apply(t, files, nil, nil, Options{})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var b strings.Builder
	if err := eff.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	_, eff2, _, err := apply(t, map[string]string{"config.yaml": b.String()}, nil, nil, Options{})
	if err != nil {
		t.Fatalf("Apply of the printed configuration: %v\n%s", err, b.String())
	}
	for i, v := range eff.Values {
		w := eff2.Values[i]
		if v.Name != w.Name || v.Text != w.Text || strings.Join(v.List, ",") != strings.Join(w.List, ",") {
			t.Errorf("round trip changed %s: %q %q -> %q %q", v.Name, v.Text, v.List, w.Text, w.List)
		}
	}
}

func TestEnvName(t *testing.T) {
	tests := []struct{ flag, want string }{
		{"data-dir", "BOSUN_DATA_DIR"},
		{"horizontal-pod-autoscaler-sync-period", "BOSUN_HORIZONTAL_POD_AUTOSCALER_SYNC_PERIOD"},
		{"token", "BOSUN_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			if got := EnvName(tt.flag); got != tt.want {
				t.Errorf("EnvName(%q) = %q, want %q", tt.flag, got, tt.want)
			}
		})
	}
}
