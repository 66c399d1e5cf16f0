package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bosun-dev/bosun/config"
)

// envConfig names the configuration file when --config is not given.
const envConfig = "BOSUN_CONFIG"

// configHelp is appended to the long help of bosun server and bosun agent.
const configHelp = `

Configuration file: every flag can also be set in YAML, keys being the flag
names (data-dir: /var/lib/bosun; lists for repeatable flags: cni-bin-dir:
[/opt/cni/bin]), in --config (default ` + config.DefaultPath + `, or
$` + envConfig + `) and then in the *.yaml and *.yml files of the directory
named after it plus ".d" (` + config.DefaultPath + `.d/), in name
order; a key ending in "+" appends to the list earlier files gave
(cni-bin-dir+: [/usr/lib/cni]). Precedence, highest first: command-line
flags, BOSUN_<FLAG_NAME> environment variables (BOSUN_DATA_DIR), later
files, earlier files, defaults. An unknown key or a value of the wrong type
is an error naming the file and line; keys that are flags of the other
command (bosun server or bosun agent) are skipped, so one file can serve
both. --print-config shows the result and where each value came from.`

// configFlags are --config and --print-config.
type configFlags struct {
	path  string
	print bool
}

// withConfigFile gives cmd (bosun server or bosun agent) --config and
// --print-config, and makes it take the flags the command line did not set
// from BOSUN_* environment variables and configuration files before it
// runs. otherFlags returns the flags of the other command, whose keys the
// files may hold and which are skipped.
func withConfigFile(cmd *cobra.Command, g *globalOptions, otherFlags func() *pflag.FlagSet) *cobra.Command {
	cf := &configFlags{}
	f := cmd.Flags()
	f.StringVar(&cf.path, "config", config.DefaultPath, "YAML configuration file whose keys are this command's flag names; the YAML files in FILE.d/ are read after it in name order (later files win), and BOSUN_<FLAG_NAME> environment variables and command-line flags override them; a missing default file is fine (env "+envConfig+")")
	f.BoolVar(&cf.print, "print-config", false, "print the effective configuration as YAML, each value with where it came from (command line, environment variable, file:line or default), and exit")
	cmd.Long += configHelp
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		eff, err := applyConfig(cmd, cf, otherFlags)
		if err != nil {
			return err
		}
		if cf.print {
			return eff.WriteYAML(cmd.OutOrStdout())
		}
		logIgnoredKeys(cmd, g, eff)
		return run(cmd, args)
	}
	return cmd
}

// applyConfig fills cmd's flags from the environment and the files.
func applyConfig(cmd *cobra.Command, cf *configFlags, otherFlags func() *pflag.FlagSet) (*config.Effective, error) {
	path, explicit := cf.path, cmd.Flags().Changed("config")
	if env := os.Getenv(envConfig); !explicit && env != "" {
		path, explicit = env, true
	}
	own := cmd.Flags()
	other := otherFlags()
	eff, err := config.Apply(own, config.Options{
		Path:     path,
		Explicit: explicit,
		Environ:  os.Environ(),
		Skip:     []string{"config", "print-config", "help"},
		Ignored:  func(key string) bool { return own.Lookup(key) == nil && other.Lookup(key) != nil },
		Redact:   []string{"token", "webhook-secret"},
		Command:  cmd.CommandPath(),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd.Name(), err)
	}
	for _, v := range eff.Values {
		if v.Source.Kind == config.Env && slices.Contains(envDefaultFlags(), v.Name) {
			own.Lookup(v.Name).Changed = false
		}
	}
	return eff, nil
}

// envDefaultFlags are the flags whose BOSUN_* variable bosun read as a
// default before configuration files existed: set from the environment,
// they still count as not given, as before (a BOSUN_TOKEN meant for the
// agent does not make a server without --join refuse to start).
func envDefaultFlags() []string { return []string{"server", "token", "webhook-secret"} }

// logIgnoredKeys says which keys of the files were skipped as flags of the
// other command.
func logIgnoredKeys(cmd *cobra.Command, g *globalOptions, eff *config.Effective) {
	if len(eff.Ignored) == 0 {
		return
	}
	logger, err := g.logger(cmd.ErrOrStderr())
	if err != nil {
		return // the command reports the bad --log-level or --log-format
	}
	for _, ig := range eff.Ignored {
		logger.Info("config: key skipped: it is not a flag of this command but of the other one (bosun server or bosun agent)",
			"command", cmd.CommandPath(), "key", ig.Key, "at", ig.Position.String())
	}
}
