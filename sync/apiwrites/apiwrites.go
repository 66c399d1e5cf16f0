// Package apiwrites turns API writes into commits, for `bosun server
// --api-writes=commit`: `kubectl scale`, `kubectl set image` (and the
// edits, patches, applies and rollbacks that change only replicas or
// container images) of an object synced from Git become a commit of its
// file, authored by the API's user, and the API answers once sync applied
// that commit. The API server (Config.GitWrites) decides what a write
// changes; this package edits the file (package sync/edit, keeping
// comments and formatting), commits (sync/gitwrite), asks the sync loop
// to look at once, and waits for the sync status to name the commit.
package apiwrites

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/sync/edit"
	"github.com/bosun-dev/bosun/sync/gitwrite"
	"github.com/bosun-dev/bosun/sync/state"
)

// DefaultTimeout bounds how long Committed waits for sync.
const DefaultTimeout = time.Minute

// Committer commits API writes. Writer and Status are required.
type Committer struct {
	// Writer commits to the branch sync reads.
	Writer edit.Writer
	// Status reads the sync status and history (the store).
	Status records.Reader
	// Trigger asks the sync loop to look at the branch now; nil waits for
	// its next poll.
	Trigger func()
	// Timeout bounds how long WaitSynced waits; 0 means DefaultTimeout.
	Timeout time.Duration
	// Editors returns the editor of the renderer (Kustomize, Helm) that
	// rendered an object from the file renderedBy; nil refuses writes to
	// rendered objects.
	Editors func(renderedBy string) (manifests.RenderedEditor, bool)
	// Poll is how often WaitSynced reads the status; 0 means 100 ms.
	Poll time.Duration
}

// author is the commit author of an API write by user.
func author(user string) gitwrite.PushOptions {
	name := strings.Map(func(r rune) rune {
		if r == '<' || r == '>' || r == '\n' {
			return -1
		}
		return r
	}, user)
	return gitwrite.PushOptions{Author: gitwrite.Signature{Name: name + " (bosun API)", Email: "api@bosun.invalid"}}
}

func (c *Committer) target(r api.Resource, obj api.Object) (edit.Target, error) {
	file, ok := edit.SourceFile(obj)
	if !ok {
		return edit.Target{}, fmt.Errorf("apiwrites: %s %s/%s has no bosun.dev/source annotation: it is not from Git", r.Kind, obj.GetNamespace(), obj.GetName())
	}
	t := edit.Target{Resource: r, Object: obj, File: file, RenderedBy: obj.GetAnnotations()[api.AnnotationRenderedBy]}
	if t.RenderedBy != "" && c.Editors != nil {
		t.Editor, _ = c.Editors(t.RenderedBy)
	}
	return t, nil
}

// CommitScale commits spec.replicas = replicas in the file of obj (of
// resource r) on behalf of user and returns the commit's SHA; "" when the
// file already says so.
func (c *Committer) CommitScale(ctx context.Context, r api.Resource, obj api.Object, replicas int32, user string) (string, error) {
	t, err := c.target(r, obj)
	if err != nil {
		return "", err
	}
	return committed(edit.Scale(ctx, c.Writer, t, replicas, author(user)))
}

// CommitImages commits the images (by container name) of obj's containers
// in its file, on behalf of user, and returns the commit's SHA; "" when
// the file already says so.
func (c *Committer) CommitImages(ctx context.Context, r api.Resource, obj api.Object, images map[string]string, user string) (string, error) {
	t, err := c.target(r, obj)
	if err != nil {
		return "", err
	}
	var imgs []edit.Image
	for _, name := range slices.Sorted(maps.Keys(images)) {
		imgs = append(imgs, edit.Image{Container: name, Image: images[name]})
	}
	return committed(edit.SetImages(ctx, c.Writer, t, imgs, author(user)))
}

// committed returns the SHA of res, "" for an edit that changed nothing.
func committed(res edit.Result, err error) (string, error) {
	if errors.Is(err, gitwrite.ErrNoChange) {
		return "", nil
	}
	return res.SHA, err
}

// WaitSynced asks sync to look at the branch and waits until commit sha
// is applied (it, or a later commit after it, is the synced one). A
// rejected commit is an error with sync's reason.
func (c *Committer) WaitSynced(ctx context.Context, sha string) error {
	if c.Trigger != nil {
		c.Trigger()
	}
	timeout, poll := c.Timeout, c.Poll
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		st, err := records.ReadStatus(ctx, c.Status)
		if err != nil && !errors.Is(err, api.ErrNotFound) {
			return fmt.Errorf("apiwrites: read the sync status: %w", err)
		}
		if done, err := c.settled(ctx, st, sha); done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("apiwrites: commit %.8s was pushed but not synced within %s; bosun status says when it is", sha, timeout)
		case <-time.After(poll):
		}
	}
}

// settled reports whether sha's sync is decided: applied (nil) or
// rejected (the reason).
func (c *Committer) settled(ctx context.Context, st state.Status, sha string) (bool, error) {
	if st.Synced != nil && st.Synced.Commit.SHA == sha {
		return true, nil
	}
	if la := st.LastAttempt; la != nil && la.Commit.SHA == sha && la.Result != state.ResultApplied {
		return true, fmt.Errorf("apiwrites: commit %.8s was %s: %s", sha, la.Result, la.Message)
	}
	if st.Synced == nil || st.Synced.Commit.SHA == "" {
		return false, nil
	}
	// A later commit may have been synced first: then ours is in the
	// history, applied.
	h, err := records.ReadHistory(ctx, c.Status, 50)
	if err != nil {
		return false, nil
	}
	for _, a := range h {
		if a.Commit.SHA == sha && a.Result == state.ResultApplied {
			return true, nil
		}
	}
	return false, nil
}
