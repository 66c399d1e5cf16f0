package install

import (
	"fmt"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// mountsUnder lists the mount points at or under dir.
func mountsUnder(dir string) ([]string, error) {
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil, fmt.Errorf("install: mounts: %w", err)
	}
	out := make([]string, 0, len(infos))
	for _, m := range infos {
		out = append(out, m.Mountpoint)
	}
	return out, nil
}

// checkNoMounts refuses to remove dir while something is mounted under it.
func checkNoMounts(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("uninstall: %s not removed: %d mounts under it (%s); run \"bosun agent --cleanup --data-dir %s\" and try again", dir, len(mounts), strings.Join(mounts, ", "), dir)
	}
	return nil
}
