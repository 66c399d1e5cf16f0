// Package upgrade holds bosun's upgrade tests: a server of this release
// started on the data dir of the previous one (testdata/previous-etcd.tar.gz,
// made by testdata/make-previous.sh from the commit in PREVIOUS) serves
// everything and migrates the store format, twice; and a node swapped from
// the previous release's binary (built from git history in the test) to this
// one keeps its pods running and its Service answering.
package upgrade
