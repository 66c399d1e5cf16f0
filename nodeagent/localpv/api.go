package localpv

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
)

// APIClient is the part of *client.Client an API source uses.
type APIClient interface {
	List(ctx context.Context, r api.Resource, ns, selector string) ([]api.Object, error)
	Watch(ctx context.Context, r api.Resource, ns, selector, rv string, fn func(client.Event) error) error
}

// API is a Lister and Watcher of PersistentVolumes through the API.
type API struct {
	c  APIClient
	pv api.Resource
}

// APISource returns PersistentVolumes read through c (the agent's client).
func APISource(c APIClient) (*API, error) {
	pv, ok := api.Lookup("persistentvolumes")
	if !ok {
		return nil, errors.New("localpv: the API has no persistentvolumes")
	}
	return &API{c: c, pv: pv}, nil
}

// PersistentVolumes lists every PersistentVolume.
func (a *API) PersistentVolumes(ctx context.Context) ([]*corev1.PersistentVolume, error) {
	objs, err := a.c.List(ctx, a.pv, "", "")
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.PersistentVolume, 0, len(objs))
	for _, o := range objs {
		if pv, ok := o.(*corev1.PersistentVolume); ok {
			out = append(out, pv)
		}
	}
	return out, nil
}

// WatchDeletions calls deleted after each PersistentVolume deletion until
// ctx ends or the watch fails.
func (a *API) WatchDeletions(ctx context.Context, deleted func()) error {
	return a.c.Watch(ctx, a.pv, "", "", "", func(ev client.Event) error {
		if ev.Type == "DELETED" {
			deleted()
		}
		return nil
	})
}
