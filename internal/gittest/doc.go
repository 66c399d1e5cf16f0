// Package gittest builds the real local Git repositories bosun's tests
// read and write: it runs the git command line tool with a private
// configuration (no user or system settings, a fixed author and committer)
// and fails the test with git's output when a command fails. A test that
// needs git skips, or fails where end-to-end tests are required, when git is
// not installed (see internal/testenv). It also holds what such tests
// commit and sign with: Web, a Deployment written as users write YAML, and
// OpenPGP keys (SigningKey, ArmoredKeys).
//
//	dir := gittest.Init(t)
//	sha := gittest.Commit(t, dir, "web v1", map[string]string{"apps/web.yaml": web})
//	remote := gittest.BareClone(t, dir)
//	gittest.Git(t, remote, "log", "-1", "--format=%s", "main") // "web v1"
package gittest
