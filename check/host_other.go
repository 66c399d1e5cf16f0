//go:build !linux

package check

func freeBytes(string) (uint64, error) { return 0, errNoStatfs }
