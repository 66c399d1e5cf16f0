package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// DefaultRefreshInterval is how often a ServerRefresh reads the registered
// servers when its Interval is not set.
const DefaultRefreshInterval = 30 * time.Second

// ServerRefresh keeps the servers of a Client in step with the servers the
// cluster has registered (ListServers), and saves what it learned in a file,
// so that a restart while the server it was given is down still knows the
// others (LoadServerList).
type ServerRefresh struct {
	// Client is the client whose servers are kept (required).
	Client *Client
	// Static are servers always kept, first, whatever the registry says:
	// those given on the command line (--server).
	Static []string
	// Path is the file the last registered list is saved to, as JSON
	// ([]api.ServerInfo); "" saves nothing.
	Path string
	// Interval is the period of the refresh (default DefaultRefreshInterval).
	Interval time.Duration
	// Logger receives changes of the list (Info) and failures (Warn, once
	// until the next success); nil discards.
	Logger *slog.Logger
}

// Run refreshes at once, then every Interval, until ctx ends; it returns
// nil then. A failed refresh (no server reachable, an error answer) keeps
// the servers the client has and the saved file as they are, as does an
// empty registry. Each refresh sets the client's servers to Static followed
// by the registered ones (SetServers: the current server stays current when
// it is still listed).
func (r ServerRefresh) Run(ctx context.Context) error {
	if r.Client == nil {
		return errors.New("client: server refresh: no client")
	}
	defaults.Positive(&r.Interval, DefaultRefreshInterval)
	defaults.Logger(&r.Logger)
	failing := false
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		err := r.refresh(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			r.Logger.Warn("could not refresh the list of API servers; keeping the one known", "err", err)
		case err == nil && failing:
			r.Logger.Info("list of API servers refreshed again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// refresh reads the registered servers once and applies them.
func (r ServerRefresh) refresh(ctx context.Context) error {
	list, err := r.Client.ListServers(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return nil
	}
	urls := slices.Clone(r.Static)
	for _, s := range list {
		urls = append(urls, s.URL)
	}
	before := r.Client.ServerURLs()
	if err := r.Client.SetServers(urls); err != nil {
		return fmt.Errorf("client: the registered servers: %w", err)
	}
	if after := r.Client.ServerURLs(); !slices.Equal(before, after) {
		r.Logger.Info("API servers", "servers", after, "current", r.Client.URL())
	}
	if r.Path == "" {
		return nil
	}
	return saveServerList(r.Path, list)
}

// saveServerList writes list to path atomically (a file beside it renamed
// over it), creating the directory.
func saveServerList(path string, list []api.ServerInfo) error {
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return fmt.Errorf("client: encode the server list: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("client: save the server list: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("client: save the server list: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("client: save the server list to %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("client: save the server list to %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("client: save the server list: %w", err)
	}
	return nil
}

// LoadServerList returns the URLs of the servers a ServerRefresh saved in
// path, in the saved order; a missing file is no servers and no error.
func LoadServerList(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: read the saved server list: %w", err)
	}
	var list []api.ServerInfo
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("client: saved server list %s: %w", path, err)
	}
	var out []string
	for _, s := range list {
		if s.URL != "" {
			out = append(out, s.URL)
		}
	}
	return out, nil
}
