package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServerAuditFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		wantErr  string
		wantFile bool
	}{
		{name: "no audit log", args: nil},
		{name: "audit log with rotation", args: []string{"--audit-log", filepath.Join(dir, "a.log"), "--audit-log-maxsize", "10", "--audit-log-maxbackup", "3"}, wantFile: true},
		{name: "maxsize without a path", args: []string{"--audit-log-maxsize", "10"}, wantErr: "--audit-log-maxsize has no effect without --audit-log"},
		{name: "maxbackup without a path", args: []string{"--audit-log-maxbackup", "1"}, wantErr: "--audit-log-maxbackup has no effect without --audit-log"},
		{name: "negative size", args: []string{"--audit-log", filepath.Join(dir, "b.log"), "--audit-log-maxsize", "-1"}, wantErr: "--audit-log: audit: "},
		{name: "directory missing", args: []string{"--audit-log", filepath.Join(dir, "no", "c.log")}, wantErr: "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newServerCommand(&globalOptions{})
			if err := cmd.ParseFlags(append([]string{"--repo", "."}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			c := &serverConfig{syncPolicy: "auto", apiWrites: "refuse"}
			f := cmd.Flags()
			c.auditLog, _ = f.GetString("audit-log")
			c.auditMaxSize, _ = f.GetInt("audit-log-maxsize")
			c.auditMaxBackup, _ = f.GetInt("audit-log-maxbackup")
			err := checkServerFlags(cmd, c)
			if err == nil {
				l, oerr := openAuditLog(c, slog.New(slog.DiscardHandler))
				if oerr == nil {
					if (l != nil) != tt.wantFile {
						t.Errorf("audit logger = %v, want one: %v", l, tt.wantFile)
					}
					if cerr := l.Close(); cerr != nil {
						t.Error(cerr)
					}
				}
				err = oerr
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.wantFile {
				fi, err := os.Stat(c.auditLog)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v, want 0600", c.auditLog, fi.Mode().Perm())
				}
			}
		})
	}
}
