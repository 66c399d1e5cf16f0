package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
)

// send encodes obj, sends it and decodes the answer back into obj.
func (c *Client) send(ctx context.Context, method, path string, r api.Resource, obj api.Object) error {
	obj.GetObjectKind().SetGroupVersionKind(r.GVK())
	b, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("client: encode %s: %w", r.Kind, err)
	}
	resp, err := c.do(ctx, method, path, nil, bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(obj); err != nil {
		return fmt.Errorf("client: decode the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Create creates obj, an object of r that Git does not manage (objects
// carrying bosun's managed-by label are refused: only sync writes those).
// obj is updated with what the server stored (uid, resourceVersion, ...).
func (c *Client) Create(ctx context.Context, r api.Resource, obj api.Object) error {
	return c.send(ctx, http.MethodPost, Path(r, obj.GetNamespace(), ""), r, obj)
}

// Update replaces obj if its resourceVersion is still current (else an
// *APIError for which IsConflict is true). Git-managed objects are refused
// with a message naming the file to change. obj gets the new resourceVersion.
func (c *Client) Update(ctx context.Context, r api.Resource, obj api.Object) error {
	return c.send(ctx, http.MethodPut, Path(r, obj.GetNamespace(), obj.GetName()), r, obj)
}

// UpdateStatus replaces only the status of obj (managed or not), if its
// resourceVersion is still current. obj becomes the stored object.
func (c *Client) UpdateStatus(ctx context.Context, r api.Resource, obj api.Object) error {
	return c.send(ctx, http.MethodPut, Path(r, obj.GetNamespace(), obj.GetName())+"/status", r, obj)
}

// Delete deletes an object Git does not manage; resourceVersion, when not
// "", makes the delete conditional on it.
func (c *Client) Delete(ctx context.Context, r api.Resource, ns, name, resourceVersion string) error {
	var opts metav1.DeleteOptions
	if resourceVersion != "" {
		opts.Preconditions = &metav1.Preconditions{ResourceVersion: &resourceVersion}
	}
	return c.DeleteWithOptions(ctx, r, ns, name, opts)
}

// DeleteWithOptions deletes an object Git does not manage with
// Kubernetes' DeleteOptions: gracePeriodSeconds (a pod's termination
// grace; 0 removes a pod at once), preconditions (uid, resourceVersion:
// else an *APIError for which IsConflict is true), propagationPolicy.
// Options left zero are not sent.
func (c *Client) DeleteWithOptions(ctx context.Context, r api.Resource, ns, name string, opts metav1.DeleteOptions) error {
	var body io.Reader
	if !reflect.DeepEqual(opts, metav1.DeleteOptions{}) {
		opts.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "DeleteOptions"}
		b, err := json.Marshal(opts)
		if err != nil {
			return fmt.Errorf("client: encode DeleteOptions of %s %s/%s: %w", r.Kind, ns, name, err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.do(ctx, http.MethodDelete, Path(r, ns, name), nil, body)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
