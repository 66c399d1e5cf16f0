package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runBosun runs the root command with args and returns its output.
func runBosun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand(&out, &errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String() + errOut.String(), err
}

// writeConfig writes name → content under dir and returns dir/config.yaml.
func writeConfig(t *testing.T, dir string, files map[string]string) string {
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
	return filepath.Join(dir, "config.yaml")
}

// TestServerPrintConfig checks that bosun server --config F --print-config
// prints the values of the file, its drop-ins, the environment and the
// command line with their sources, and exits without starting a server.
func TestServerPrintConfig(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := writeConfig(t, dir, map[string]string{
		"config.yaml": "repo: /srv/repo\ndata-dir: " + dataDir + "\ntls-san: [a.example]\n" +
			"token: abcdef.0123456789abcdef\nno-webhook: false\ncleanup: true\n",
		"config.yaml.d/50-web.yaml": "no-webhook: true\ntls-san+: [b.example]\n",
	})
	t.Setenv("BOSUN_INTERVAL", "1m")
	out, err := runBosun(t, "server", "--config", cfg, "--listen", "127.0.0.1:7443", "--print-config")
	if err != nil {
		t.Fatalf("bosun server --print-config: %v\n%s", err, out)
	}
	dropIn := filepath.Join(dir, "config.yaml.d", "50-web.yaml")
	for _, want := range []string{
		"# Effective configuration of bosun server.\n",
		"# Config file read: " + cfg + "\n",
		"# Config file read: " + dropIn + "\n",
		"# Ignored (a flag of the other command): " + cfg + ":6: cleanup\n",
		"\nrepo: /srv/repo # from " + cfg + ":1\n",
		"\ndata-dir: " + dataDir + " # from " + cfg + ":2\n",
		"\ntls-san: [a.example, b.example] # from " + cfg + ":3 + " + dropIn + ":2\n",
		"\ntoken: <redacted> # from " + cfg + ":4\n",
		"\nno-webhook: true # from " + dropIn + ":1\n",
		"\ninterval: 1m0s # from BOSUN_INTERVAL\n",
		"\nlisten: 127.0.0.1:7443 # from the command line\n",
		"\nresync: 10m0s # default\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "0123456789abcdef") {
		t.Errorf("output shows the token:\n%s", out)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("--print-config created the data dir (stat: %v): the server ran", err)
	}
}

// TestAgentPrintConfig checks that an agent reading a server's file skips
// the server's keys and takes its own.
func TestAgentPrintConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, map[string]string{
		"config.yaml": "repo: /srv/repo\nnode-name: n1\ndns-upstream: [1.1.1.1:53]\nno-dns: true\n",
	})
	t.Setenv("BOSUN_SERVER", "https://10.0.0.1:6443")
	out, err := runBosun(t, "agent", "--config", cfg, "--print-config")
	if err != nil {
		t.Fatalf("bosun agent --print-config: %v\n%s", err, out)
	}
	for _, want := range []string{
		"# Ignored (a flag of the other command): " + cfg + ":1: repo\n",
		"\nnode-name: n1 # from " + cfg + ":2\n",
		"\ndns-upstream: ['1.1.1.1:53'] # from " + cfg + ":3\n",
		"\nno-dns: true # from " + cfg + ":4\n",
		"\nserver: https://10.0.0.1:6443 # from BOSUN_SERVER\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestConfigErrors checks that bad configuration stops bosun server and
// bosun agent with an error naming the file and line, and that values
// from a file reach the server's own flag checks.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		cmd     string
		content string
		args    []string
		env     []string
		want    string
	}{
		{name: "unknown key", cmd: "server", content: "repo: /srv/repo\ndata-dri: /srv\n",
			want: `config.yaml:2: unknown key "data-dri" (did you mean "data-dir"?)`},
		{name: "wrong type", cmd: "agent", content: "no-dns: yes\n",
			want: `config.yaml:1: no-dns: --no-dns is a bool: want true or false, got the string "yes"`},
		{name: "wrong type, print-config too", cmd: "server", content: "interval: 30\n", args: []string{"--print-config"},
			want: `config.yaml:1: interval: --interval is a duration: want a duration`},
		{name: "file values reach the server's checks", cmd: "server", content: "repo: /srv/repo\naudit-log-maxsize: 5\n",
			want: "server: --audit-log-maxsize has no effect without --audit-log"},
		{name: "BOSUN_TOKEN stays a default", cmd: "server", content: "repo: /srv/repo\naudit-log-maxsize: 5\n",
			env:  []string{"BOSUN_TOKEN", "abcdef.0123456789abcdef"},
			want: "server: --audit-log-maxsize has no effect without --audit-log"},
		{name: "missing explicit file", cmd: "server", args: []string{"--config", filepath.Join(dir, "missing.yaml")},
			want: filepath.Join(dir, "missing.yaml")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := filepath.Join(dir, string(rune('a'+i)))
			cfg := writeConfig(t, sub, map[string]string{"config.yaml": tt.content})
			for i := 0; i+1 < len(tt.env); i += 2 {
				t.Setenv(tt.env[i], tt.env[i+1])
			}
			args := append([]string{tt.cmd, "--config", cfg}, tt.args...)
			out, err := runBosun(t, args...)
			if err == nil {
				t.Fatalf("bosun %s succeeded, want an error containing %q\n%s", tt.cmd, tt.want, out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestConfigHelp checks that --help of bosun server and bosun agent
// explains the configuration file once and lists --config and
// --print-config.
func TestConfigHelp(t *testing.T) {
	for _, cmd := range []string{"server", "agent"} {
		t.Run(cmd, func(t *testing.T) {
			out, err := runBosun(t, cmd, "--help")
			if err != nil {
				t.Fatalf("bosun %s --help: %v", cmd, err)
			}
			if n := strings.Count(out, "Configuration file: every flag"); n != 1 {
				t.Errorf("help explains the configuration file %d times, want 1:\n%s", n, out)
			}
			for _, want := range []string{
				"files, earlier files, defaults.",
				"where each value came from.\n",
				"--config string",
				"--print-config ",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
			if strings.Count(out, "where each value came from.") != 1 {
				t.Errorf("help repeats its configuration text:\n%s", out)
			}
		})
	}
}
