// Package upgrade holds bosun's upgrade tests: a server of this release
// started on the data dir of the previous one (testdata/previous-etcd.tar.gz,
// made by testdata/make-previous.sh from the commit in PREVIOUS) serves
// everything and migrates the store format, twice; and a node swapped from
// the previous release's binary (built from git history in the test) to this
// one keeps its pods running and its Service answering: a server with its
// agent swapped whole, and an agent of its own swapped under a running
// server. UPGRADE_PREVIOUS_BIN names a previous release's binary built
// beforehand (no build in the test); UPGRADE_LOG_LEVEL (e.g. debug) runs
// bosun at that level and prints the new process's log.
package upgrade
