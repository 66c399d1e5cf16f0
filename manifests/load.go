package manifests

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// maxSymlinkHops bounds how many symbolic links one path may go through.
const maxSymlinkHops = 40

// isManifestName reports whether a file name has a manifest extension.
func isManifestName(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Load walks fsys under opts.Path recursively, reads every *.yaml, *.yml and
// *.json file (dotfiles and dot-directories are skipped, other files
// ignored), decodes, defaults and validates everything, and returns all
// objects and all problems together. The returned error is only for I/O
// failures of fsys itself; bad input is always reported as Problems.
// When a limit (file size, tree size, document count) stops reading, the
// limit's error is reported and the checks that need the whole tree
// (missing namespaces, selectors matching nothing) are skipped rather than
// reported about the part that was read.
//
// Symlinks: when fsys implements fs.ReadLinkFS (os.DirFS does), a symlink
// whose target resolves outside the tree root (including any absolute
// target) is an error naming the file if it has a manifest extension, and a
// warning otherwise; a symlink to a file inside the tree is followed (at
// most 40 links deep); a symlink to a directory is skipped with a warning.
// opts.Path may also name a single file.
//
// Renderers, decryption and the plain-Secret check (see the package doc
// and Options): directories claimed by opts.Renderers are rendered, not
// read (an error of a Renderer's Render is Load's error); files that
// opts.Decrypter reports encrypted are decrypted first; every Secret with
// data that comes from no encrypted file is reported.
func Load(fsys fs.FS, opts Options) (*Result, error) {
	l := &loader{fsys: fsys, opts: opts, d: decoder{limits: opts.Limits.withDefaults()}}
	l.d.docsLeft = l.d.limits.MaxDocuments
	l.claimed = make([][]string, len(opts.Renderers))
	root := path.Clean("/" + strings.TrimSpace(opts.Path))[1:]
	if root == "" {
		root = "."
	}
	if err := l.load(root); err != nil {
		return nil, err
	}
	if err := l.render(); err != nil {
		return nil, err
	}
	objs := l.d.objects
	sort.SliceStable(objs, func(i, j int) bool {
		if objs[i].File != objs[j].File {
			return objs[i].File < objs[j].File
		}
		return objs[i].Line < objs[j].Line
	})
	all := append(append([]Object(nil), objs...), l.d.partial...)
	complete := !l.truncated && !l.d.tooMany && !l.totalFull && !l.undecrypted
	ps := append(l.d.problems, validate(all, opts, complete)...)
	ps = append(ps, plainSecrets(all, opts.RequireEncryptedSecrets)...)
	sortProblems(ps)
	ws := l.d.windows
	sort.SliceStable(ws, func(i, j int) bool {
		if ws[i].File != ws[j].File {
			return ws[i].File < ws[j].File
		}
		return ws[i].Line < ws[j].Line
	})
	return &Result{Objects: objs, Problems: ps, SyncWindows: ws}, nil
}

// loader reads files from a tree into a decoder.
type loader struct {
	fsys      fs.FS
	opts      Options
	d         decoder
	total     int64
	totalFull bool
	// truncated is set when a file was skipped for its size: the tree
	// read is incomplete.
	truncated bool
	// undecrypted is set when an encrypted file was skipped for want of
	// a key: the tree read is incomplete.
	undecrypted bool
	// claimed holds, per renderer of opts, the directories it claimed
	// for rendering, in walk order.
	claimed [][]string
}

func (l *loader) load(root string) error {
	info, err := fs.Stat(l.fsys, root)
	if errors.Is(err, fs.ErrNotExist) {
		l.d.add(Problem{File: root, Message: "path does not exist in the tree"})
		return nil
	}
	if err != nil {
		return statError(root, err)
	}
	if !info.IsDir() {
		return l.readFile(root, root)
	}
	err = fs.WalkDir(l.fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("manifests: read %s: %w", p, err)
		}
		if p == root {
			return l.claim(p)
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return l.symlink(p)
		case d.IsDir():
			return l.claim(p)
		case !isManifestName(d.Name()):
			return nil
		case !d.Type().IsRegular():
			l.d.add(Problem{File: p, Message: "not a regular file; skipped", Warning: true})
			return nil
		}
		return l.readFile(p, p)
	})
	if errors.Is(err, fs.SkipAll) {
		return nil
	}
	return err
}

// readFile reads file real and decodes it under the name file.
func (l *loader) readFile(file, real string) error {
	if l.totalFull || l.d.tooMany {
		return fs.SkipAll
	}
	max := l.d.limits.MaxFileBytes
	info, err := fs.Stat(l.fsys, real)
	if err != nil {
		return statError(real, err)
	}
	if info.Size() > max {
		l.truncated = true
		l.d.add(Problem{File: file, Message: fmt.Sprintf("file is %s, larger than the limit of %s; split it into smaller files", humanBytes(info.Size()), humanBytes(max))})
		return nil
	}
	if l.total+info.Size() > l.d.limits.MaxTotalBytes {
		return l.treeFull(file)
	}
	f, err := l.fsys.Open(real)
	if err != nil {
		return fmt.Errorf("manifests: open %s: %w", real, err)
	}
	defer f.Close()
	// The size from Stat may be stale or a lie: never read more than allowed.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return fmt.Errorf("manifests: read %s: %w", real, err)
	}
	if int64(len(data)) > max {
		l.truncated = true
		l.d.add(Problem{File: file, Message: fmt.Sprintf("file is larger than the limit of %s; split it into smaller files", humanBytes(max))})
		return nil
	}
	l.total += int64(len(data))
	if l.total > l.d.limits.MaxTotalBytes {
		return l.treeFull(file)
	}
	l.plainFile(file, data)
	return nil
}

func (l *loader) treeFull(file string) error {
	l.totalFull = true
	l.d.add(Problem{File: file, Message: fmt.Sprintf("the manifests add up to more than the limit of %s; this file and the ones after it are not read", humanBytes(l.d.limits.MaxTotalBytes))})
	return fs.SkipAll
}

var (
	errEscapes = errors.New("points outside the repository")
	errLoop    = errors.New("goes through too many symbolic links")
)

// symlink handles a symbolic link found while walking.
func (l *loader) symlink(p string) error {
	manifest := isManifestName(path.Base(p))
	rl, ok := l.fsys.(fs.ReadLinkFS)
	if !ok {
		// The file system hides links: treat the entry as what it points to.
		info, err := fs.Stat(l.fsys, p)
		switch {
		case err != nil && manifest:
			l.d.add(Problem{File: p, Message: fmt.Sprintf("symlink cannot be followed: %v", err)})
			return nil
		case err != nil:
			return nil
		case info.IsDir():
			l.d.add(Problem{File: p, Message: "symlink to a directory is not followed", Warning: true})
			return nil
		case manifest:
			return l.readFile(p, p)
		}
		return nil
	}
	target, err := resolveLinks(rl, p)
	switch {
	case errors.Is(err, errEscapes) || errors.Is(err, errLoop):
		link, _ := rl.ReadLink(p)
		msg := fmt.Sprintf("symlink to %q %v; it is not followed", link, err)
		l.d.add(Problem{File: p, Message: msg, Warning: !manifest})
		return nil
	case errors.Is(err, fs.ErrNotExist):
		if manifest {
			l.d.add(Problem{File: p, Message: "symlink points to a file that does not exist"})
		}
		return nil
	case err != nil:
		return fmt.Errorf("manifests: resolve symlink %s: %w", p, err)
	}
	info, err := rl.Lstat(target)
	if err != nil {
		return statError(target, err)
	}
	switch {
	case info.IsDir():
		l.d.add(Problem{File: p, Message: fmt.Sprintf("symlink to directory %q is not followed", target), Warning: true})
		return nil
	case !manifest:
		return nil
	case !info.Mode().IsRegular():
		l.d.add(Problem{File: p, Message: "symlink does not point to a regular file; skipped", Warning: true})
		return nil
	}
	return l.readFile(p, target)
}

// resolveLinks resolves every symbolic link on the way to name, one path
// element at a time, and returns the resulting path inside the tree. It
// fails with errEscapes when the path leaves the tree (an absolute link
// target always does) and errLoop after maxSymlinkHops links.
func resolveLinks(rl fs.ReadLinkFS, name string) (string, error) {
	parts := strings.Split(name, "/")
	resolved := ""
	hops := 0
	for len(parts) > 0 {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if resolved == "" {
				return "", errEscapes
			}
			resolved = path.Dir(resolved)
			if resolved == "." {
				resolved = ""
			}
			continue
		}
		next := path.Join(resolved, part)
		info, err := rl.Lstat(next)
		if err != nil {
			return "", err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if hops++; hops > maxSymlinkHops {
			return "", errLoop
		}
		target, err := rl.ReadLink(next)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") || strings.HasPrefix(target, `\`) || (len(target) > 1 && target[1] == ':') {
			return "", errEscapes
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	if resolved == "" {
		return ".", nil
	}
	return resolved, nil
}

// statError is the error of a failed fs.Stat of name: its *fs.PathError
// already says "stat NAME".
func statError(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("manifests: %w", err)
	}
	return fmt.Errorf("manifests: stat %s: %w", name, err)
}
