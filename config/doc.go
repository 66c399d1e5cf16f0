// Package config fills a command's flags from YAML configuration files and
// BOSUN_* environment variables, and records where every value came from.
//
// The keys of a configuration file are flag names; lists are the values of
// slice flags. The files are the main file (default /etc/bosun/config.yaml)
// and then every *.yaml and *.yml file of the directory beside it named
// after it with ".d" appended (/etc/bosun/config.yaml.d), in lexical order,
// as k3s reads config.yaml and config.yaml.d. Precedence, highest first:
// the command line, BOSUN_<FLAG_NAME> environment variables (upper case,
// dashes as underscores), later files, earlier files, the flags' defaults.
// A key ending in "+" (tls-san+: [a]) appends to the list the earlier files
// gave. Keys of flags the command does not have are errors naming the file,
// the line and the closest flag, unless Options.Ignored says they belong
// to the other command (bosun agent for bosun server, and the reverse),
// which are skipped so that one file can serve both, as in k3s.
//
// Usage, after the command line was parsed into fs:
//
//	eff, err := config.Apply(fs, config.Options{
//		Path:     "/etc/bosun/config.yaml",
//		Explicit: fs.Changed("config"),
//		Environ:  os.Environ(),
//		Skip:     []string{"config", "print-config", "help"},
//	})
//	if err != nil {
//		return err
//	}
//	eff.WriteYAML(os.Stdout) // the effective configuration and the source of each value
package config
