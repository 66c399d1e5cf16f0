package store

// EnsureFormatWith is ensureFormat for the tests: a target format and
// migrations of the test's own.
var EnsureFormatWith = ensureFormat
