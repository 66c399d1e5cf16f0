// Package install puts bosun on a machine as a systemd service and takes it
// off again: Install copies the binary to /usr/local/bin/bosun (a temporary
// file renamed over the old one, so that an upgrade never leaves half a
// binary), writes /etc/bosun/config.yaml (flag names as keys) and the unit
// bosun-server.service or bosun-agent.service, then reloads systemd and
// enables and starts the unit; Uninstall stops and disables the units, runs
// the node cleanup it is given, and removes the files bosun wrote (the data
// directory only when asked); Leftovers lists what bosun could have left on
// the machine.
//
// Every path is under Root ("" or "/" for the machine itself), so tests and
// packagers work on a temporary directory, and systemctl is reached through
// the Systemctl interface, so tests use a fake.
//
//	res, err := install.Install(ctx, install.Config{
//		Role:      install.Server,
//		Binary:    exe,
//		Flags:     map[string]any{"repo": "https://git.example.com/deploy.git"},
//		Systemctl: install.ExecSystemctl{},
//	})
package install
