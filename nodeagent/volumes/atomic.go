package volumes

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The layout of a volume written by writeAtomic, as kubelet's atomic
// writer: the files live in a hidden timestamped directory ("..<suffix>"),
// "..data" links to it, and each top-level name links into "..data". An
// update writes a new hidden directory and renames a fresh link over
// "..data", so that a reader sees the old files or the new ones, never a
// mix.
const (
	dataDirName    = "..data"
	dataDirTmpName = "..data_tmp"
)

// writeAtomic makes dir hold exactly files, switching from the previous
// content in one rename; it writes nothing when the content is unchanged.
func writeAtomic(dir string, files map[string]file) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dataLink := filepath.Join(dir, dataDirName)
	current, err := os.Readlink(dataLink)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read link %s: %w", dataLink, err)
	}
	if current == "" || !sameFiles(filepath.Join(dir, current), files) {
		ts, err := writeHiddenDir(dir, files)
		if err != nil {
			return err
		}
		tmp := filepath.Join(dir, dataDirTmpName)
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Symlink(ts, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, dataLink); err != nil {
			return fmt.Errorf("switch %s to %s: %w", dataLink, ts, err)
		}
		current = ts
	}
	if err := linkTopLevel(dir, files); err != nil {
		return err
	}
	return removeOldHiddenDirs(dir, current)
}

// writeHiddenDir writes files into a new hidden directory of dir and
// returns its name.
func writeHiddenDir(dir string, files map[string]file) (string, error) {
	ts, err := os.MkdirTemp(dir, "..")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return "", err
	}
	for rel, f := range files {
		p := filepath.Join(ts, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return "", err
		}
		if err := os.Chmod(p, f.mode); err != nil { // not narrowed by the umask
			return "", err
		}
	}
	return filepath.Base(ts), nil
}

// sameFiles reports whether dir holds exactly files, with their modes.
func sameFiles(dir string, files map[string]file) bool {
	seen := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f, ok := files[rel]
		if !ok {
			return fs.ErrExist
		}
		fi, err := d.Info()
		if err != nil || fi.Mode().Perm() != f.mode {
			return fs.ErrExist
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.data) {
			return fs.ErrExist
		}
		seen++
		return nil
	})
	return err == nil && seen == len(files)
}

// linkTopLevel makes each top-level name of files a link into ..data and
// removes every other visible entry of dir.
func linkTopLevel(dir string, files map[string]file) error {
	tops := map[string]bool{}
	for rel := range files {
		top, _, _ := strings.Cut(rel, string(filepath.Separator))
		tops[top] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") {
			continue
		}
		want := filepath.Join(dataDirName, name)
		if target, err := os.Readlink(filepath.Join(dir, name)); tops[name] && err == nil && target == want {
			delete(tops, name)
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(tops))
	for n := range tops {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.Symlink(filepath.Join(dataDirName, n), filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}

// removeOldHiddenDirs removes the hidden directories but keep.
func removeOldHiddenDirs(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, "..") || n == keep || n == dataDirName || n == dataDirTmpName || !e.IsDir() {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}
