package kustomize

import (
	"path"
	"sort"
	"strings"

	"github.com/bosun-dev/bosun/manifests"
)

// errorProblems turns a kustomize error into Problems naming the
// kustomization file and the line of the entry involved: the entry
// (resource, patch, component, generator) the message names last, since
// kustomize wraps the innermost cause last; else the line of the field the
// message is about; else the kustomization's first line. A file that
// could not be decrypted is reported alone, with the decrypter's message.
func errorProblems(err error, t *treeFS, g *graph) manifests.Problems {
	if ps := decryptProblems(t); len(ps) > 0 {
		return ps
	}
	msg := cleanMessage(err.Error())
	if f := encryptedMention(msg, t); f != "" {
		// kustomize may quote the content it failed on: never show it.
		msg = f + " (decrypted) could not be used; its content is not shown"
	}
	k, e := blame(msg, g)
	p := manifests.Problem{File: k.file, Line: 1, Message: "kustomize: " + msg}
	switch {
	case e != nil:
		p.Line, p.Field = e.line, e.field
	default:
		if f := fieldOf(msg, k); f != "" {
			p.Line, p.Field = k.fieldLine(f), f
		}
	}
	return manifests.Problems{p}
}

// decryptProblems reports the files the Decrypter failed on.
func decryptProblems(t *treeFS) manifests.Problems {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ps manifests.Problems
	for f, err := range t.decErrs {
		ps = append(ps, manifests.Problem{File: f, Message: err.Error()})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].File < ps[j].File })
	return ps
}

// cleanMessage turns krusty's paths into repository paths.
func cleanMessage(msg string) string {
	msg = strings.ReplaceAll(msg, treeRoot+"/", "")
	msg = strings.ReplaceAll(msg, treeRoot, ".")
	return strings.TrimSpace(msg)
}

// blame returns the kustomization and entry msg names last (the deepest
// kustomization on a tie); the entry is nil when none is named, and the
// kustomization is then the last one whose directory msg names, else the
// root.
func blame(msg string, g *graph) (*kfile, *entry) {
	bestK, bestAt := g.files[0], -1
	var bestE *entry
	for _, k := range g.files {
		for i := range k.entries {
			e := &k.entries[i]
			at := lastMention(msg, k, e)
			if at >= 0 && at >= bestAt {
				bestK, bestE, bestAt = k, e, at
			}
		}
	}
	if bestE != nil {
		return bestK, bestE
	}
	dirAt := -1
	for _, k := range g.files {
		if at := strings.LastIndex(msg, "'"+k.dir+"'"); at > dirAt {
			bestK, dirAt = k, at
		}
	}
	return bestK, nil
}

// lastMention returns where msg last names entry e of k, -1 if nowhere.
func lastMention(msg string, k *kfile, e *entry) int {
	at := -1
	var needles []string
	if e.value != "" && e.value != "." {
		needles = append(needles, "'"+e.value+"'", path.Join(k.dir, e.value))
	}
	needles = append(needles, e.files...)
	if e.target != "" {
		needles = append(needles, "/"+e.target+".")
	}
	for _, n := range needles {
		at = max(at, strings.LastIndex(msg, n))
	}
	return at
}

// fieldOf guesses the kustomization field msg is about.
func fieldOf(msg string, k *kfile) string {
	low := strings.ToLower(msg)
	var cands []string
	switch {
	case strings.Contains(low, "patch"):
		cands = []string{"patches", "patchesStrategicMerge", "patchesJson6902"}
	case strings.Contains(low, "configmap"):
		cands = []string{"configMapGenerator"}
	case strings.Contains(low, "secret"):
		cands = []string{"secretGenerator"}
	case strings.Contains(low, "component"):
		cands = []string{"components"}
	case strings.Contains(low, "replacement"):
		cands = []string{"replacements"}
	case strings.Contains(low, "accumulat") || strings.Contains(low, "resource"):
		cands = []string{"resources", "bases"}
	}
	for _, c := range cands {
		if _, ok := k.fieldLines[c]; ok {
			return c
		}
	}
	return ""
}

// encryptedMention returns the first decrypted file msg names, "" if none.
func encryptedMention(msg string, t *treeFS) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var files []string
	for f := range t.encrypted {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		if strings.Contains(msg, f) || strings.Contains(msg, "'"+path.Base(f)+"'") {
			return f
		}
	}
	return ""
}
