package manifests

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// claim asks the renderers of Options about directory dir: the first one
// that claims it wins, and a later one that would also claim it is
// reported as a warning. It returns fs.SkipDir when the directory is
// claimed (for rendering or skipping), so that Load neither reads its
// files nor walks its subdirectories.
func (l *loader) claim(dir string) error {
	if len(l.opts.Renderers) == 0 {
		return nil
	}
	entries, err := fs.ReadDir(l.fsys, dir)
	if err != nil {
		return fmt.Errorf("manifests: read directory %s: %w", dir, err)
	}
	winner, how := -1, ClaimNone
	for i, r := range l.opts.Renderers {
		c := r.Claim(l.fsys, dir, entries)
		if c == ClaimNone {
			continue
		}
		if winner < 0 {
			winner, how = i, c
			continue
		}
		l.d.add(l.conflict(dir, entries, winner, i))
	}
	switch how {
	case ClaimRender:
		l.claimed[winner] = append(l.claimed[winner], dir)
		return fs.SkipDir
	case ClaimSkip:
		return fs.SkipDir
	}
	return nil
}

// conflict is the warning about directory dir claimed by renderer winner
// and also by the later renderer loser.
func (l *loader) conflict(dir string, entries []fs.DirEntry, winner, loser int) Problem {
	w, lo := l.opts.Renderers[winner], l.opts.Renderers[loser]
	wFile := l.claimFile(dir, entries, w)
	loFile := l.claimFile(dir, entries, lo)
	return Problem{File: wFile, Warning: true, Message: fmt.Sprintf(
		"%s is ignored: the directory is rendered by %s (%s), the first renderer that claims it, and %s claims it too; keep one of the two files",
		loFile, w.Name(), wFile, lo.Name())}
}

// claimFile names the entry of dir that makes r claim it (the entry that
// r claims on its own: a kustomization.yaml, a bosun-helm.yaml), or the
// directory itself when no single entry does.
func (l *loader) claimFile(dir string, entries []fs.DirEntry, r Renderer) string {
	for _, e := range entries {
		if r.Claim(l.fsys, dir, []fs.DirEntry{e}) != ClaimNone {
			return path.Join(dir, e.Name())
		}
	}
	return dir
}

// render calls every renderer once with the directories it claimed and
// decodes what they produce. Its error is a renderer's failure to read
// the tree.
func (l *loader) render() error {
	for i, r := range l.opts.Renderers {
		dirs := l.claimed[i]
		if len(dirs) == 0 {
			continue
		}
		objs, ps, err := r.Render(l.fsys, dirs)
		if err != nil {
			return fmt.Errorf("manifests: render %s with %s: %w", strings.Join(dirs, ", "), r.Name(), err)
		}
		l.d.problems = append(l.d.problems, ps...)
		for _, o := range objs {
			if !l.decodeRendered(o) {
				break
			}
		}
	}
	return nil
}

// decodeRendered decodes one rendered object as a plain file is decoded,
// within the same limits. Every problem about it is placed at r.File and
// r.Line (the rendered text's lines are not the repository's) and names
// r.RenderedBy. It reports false when a limit stops reading.
func (l *loader) decodeRendered(r Rendered) bool {
	if l.d.tooMany || l.totalFull {
		return false
	}
	note := renderedNote(r.RenderedBy)
	l.total += int64(len(r.Data))
	if l.total > l.d.limits.MaxTotalBytes {
		l.totalFull = true
		l.d.add(Problem{File: r.File, Line: r.Line, Message: fmt.Sprintf(
			"the manifests and rendered objects add up to more than the limit of %s; this object and the ones rendered after it are not read%s",
			humanBytes(l.d.limits.MaxTotalBytes), note)})
		return false
	}
	if size := int64(len(r.Data)); size > l.d.limits.MaxFileBytes {
		l.truncated = true
		l.d.add(Problem{File: r.File, Line: r.Line, Message: fmt.Sprintf(
			"the rendered object is %s, larger than the limit of %s for one file; it is not read%s",
			humanBytes(size), humanBytes(l.d.limits.MaxFileBytes), note)})
		return true
	}
	np, no, npart, nw := len(l.d.problems), len(l.d.objects), len(l.d.partial), len(l.d.windows)
	l.d.fileAs(r.File, r.Data, isJSONText(r.Data))
	for i := np; i < len(l.d.problems); i++ {
		p := &l.d.problems[i]
		p.File, p.Line, p.Message = r.File, r.Line, p.Message+note
	}
	mark := func(objs []Object) {
		for i := range objs {
			o := &objs[i]
			o.File, o.Line, o.RenderedBy, o.Encrypted = r.File, r.Line, r.RenderedBy, r.Encrypted
			o.src = nil // every field is at r.Line
		}
	}
	mark(l.d.objects[no:])
	mark(l.d.partial[npart:])
	for i := nw; i < len(l.d.windows); i++ {
		l.d.windows[i].File, l.d.windows[i].Line = r.File, r.Line
	}
	return !l.d.tooMany
}

// isJSONText reports whether a rendered document is JSON (an object)
// rather than YAML.
func isJSONText(data []byte) bool {
	s := strings.TrimLeft(string(data), " \t\r\n\ufeff")
	return strings.HasPrefix(s, "{")
}
