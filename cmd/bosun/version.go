package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print bosun's version, Git commit, Go version and store format",
		Long: `Print bosun's version, the Git commit it was built from, the Go version
that built it, and the store format it reads and writes. A server refuses
to start on a data dir of a newer store format, and migrates an older one
at start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, _ := debug.ReadBuildInfo()
			printVersion(cmd.OutOrStdout(), version, bi)
			return nil
		},
	}
}

// printVersion writes the version lines: the first one ("bosun VERSION",
// with "+COMMIT" for a dev build) is what earlier releases printed alone.
func printVersion(w io.Writer, v string, bi *debug.BuildInfo) {
	commit, modified, goVersion := "unknown", false, "unknown"
	if bi != nil {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "dev" && commit != "unknown" {
		v += "+" + commit
	}
	if modified {
		commit += " (modified)"
	}
	fmt.Fprintln(w, "bosun", v)
	fmt.Fprintln(w, "git commit:", commit)
	fmt.Fprintln(w, "go version:", goVersion)
	fmt.Fprintln(w, "store format:", store.FormatVersion)
}
