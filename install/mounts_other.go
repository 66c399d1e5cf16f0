//go:build !linux

package install

// mountsUnder finds no mounts where there is no mountinfo.
func mountsUnder(string) ([]string, error) { return nil, nil }

// checkNoMounts has nothing to check where there is no mountinfo.
func checkNoMounts(string) error { return nil }
