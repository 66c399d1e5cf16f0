package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"

	"github.com/bosun-dev/bosun/api"
)

// encodeJSON returns the JSON form of obj: Kubernetes JSON with apiVersion and kind
// set from r and without metadata.resourceVersion. obj's TypeMeta is set as a side
// effect; its resourceVersion is left as it was. Writes use Store.encode, which
// also encrypts Secrets.
func encodeJSON(r api.Resource, obj api.Object) ([]byte, error) {
	obj.GetObjectKind().SetGroupVersionKind(r.GVK())
	if st := r.Storage; st != nil {
		// Stored in another version's form: encode that.
		stored := st.To(obj)
		stored.SetResourceVersion("")
		stored.GetObjectKind().SetGroupVersionKind(st.As.GVK())
		data, err := json.Marshal(stored)
		if err != nil {
			return nil, fmt.Errorf("store: encode %s %s: %w: %w", r.Kind, objName(obj), api.ErrInvalid, err)
		}
		return data, nil
	}
	rv := obj.GetResourceVersion()
	obj.SetResourceVersion("")
	data, err := json.Marshal(obj)
	obj.SetResourceVersion(rv)
	if err != nil {
		return nil, fmt.Errorf("store: encode %s %s: %w: %w", r.Kind, objName(obj), api.ErrInvalid, err)
	}
	return data, nil
}

// decodeJSON fills into (which is reset first) from a value in the form
// encodeJSON writes and sets its resourceVersion to rev. Reads use
// Store.decode, which also decrypts Secrets.
func decodeJSON(r api.Resource, key string, value []byte, rev int64, into api.Object) error {
	v := reflect.ValueOf(into).Elem()
	v.Set(reflect.Zero(v.Type()))
	if st := r.Storage; st != nil {
		stored := st.As.New()
		if err := json.Unmarshal(value, stored); err != nil {
			return fmt.Errorf("store: decode %s at %s: %w", r.Kind, key, err)
		}
		v.Set(reflect.ValueOf(st.From(stored)).Elem())
	} else if err := json.Unmarshal(value, into); err != nil {
		return fmt.Errorf("store: decode %s at %s: %w", r.Kind, key, err)
	}
	into.GetObjectKind().SetGroupVersionKind(r.GVK())
	into.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

// parseRV parses a resourceVersion. An empty or non-positive one is invalid.
func parseRV(rv string) (int64, error) {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("store: %w: resourceVersion %q is not a positive revision", api.ErrInvalid, rv)
	}
	return n, nil
}

// spec returns the JSON of obj's Spec field, and whether the type has one.
func spec(obj api.Object) ([]byte, bool, error) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, false, nil
	}
	f := v.Elem().FieldByName("Spec")
	if !f.IsValid() {
		return nil, false, nil
	}
	data, err := json.Marshal(f.Interface())
	if err != nil {
		return nil, true, fmt.Errorf("store: encode spec of %s: %w: %w", objName(obj), api.ErrInvalid, err)
	}
	return data, true, nil
}

// hasSpec says whether obj's type has a Spec field.
func hasSpec(obj api.Object) bool {
	t := reflect.TypeOf(obj)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return false
	}
	_, ok := t.Elem().FieldByName("Spec")
	return ok
}

// objName returns "namespace/name" or "name" for messages.
func objName(obj api.Object) string {
	if ns := obj.GetNamespace(); ns != "" {
		return ns + "/" + obj.GetName()
	}
	if n := obj.GetName(); n != "" {
		return n
	}
	return obj.GetGenerateName() + "*"
}

// normalize fixes namespace and name of obj for r: a namespaced object without a
// namespace goes to "default", a cluster-scoped one loses its namespace, and an
// empty name is taken from generateName plus a random suffix or refused.
func normalize(r api.Resource, obj api.Object) error {
	if r.Namespaced {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(metav1.NamespaceDefault)
		}
	} else {
		obj.SetNamespace("")
	}
	if obj.GetName() == "" {
		if obj.GetGenerateName() == "" {
			return fmt.Errorf("store: %s: %w: metadata.name is empty", r.Kind, api.ErrInvalid)
		}
		obj.SetName(obj.GetGenerateName() + utilrand.String(5))
	}
	return nil
}

// prepareCreate sets what a create sets: uid, creationTimestamp, generation (1 for
// kinds with a spec, else 0); it clears resourceVersion.
func (s *Store) prepareCreate(r api.Resource, obj api.Object) error {
	if err := normalize(r, obj); err != nil {
		return err
	}
	obj.SetUID(types.UID(uuid.NewString()))
	obj.SetCreationTimestamp(metav1.NewTime(s.now()).Rfc3339Copy())
	obj.SetResourceVersion("")
	if hasSpec(obj) {
		obj.SetGeneration(1)
	} else {
		obj.SetGeneration(0)
	}
	return nil
}

// prepareUpdate carries uid, creationTimestamp and generation over from old to obj,
// bumping generation when the spec changed. Namespace and name must match.
func prepareUpdate(r api.Resource, old, obj api.Object) error {
	if r.Namespaced && obj.GetNamespace() == "" {
		obj.SetNamespace(metav1.NamespaceDefault)
	}
	if !r.Namespaced {
		obj.SetNamespace("")
	}
	if obj.GetName() == "" {
		return fmt.Errorf("store: %s: %w: metadata.name is empty", r.Kind, api.ErrInvalid)
	}
	if old.GetName() != obj.GetName() || old.GetNamespace() != obj.GetNamespace() {
		return fmt.Errorf("store: update %s %s: %w: stored object is %s", r.Kind, objName(obj), api.ErrInvalid, objName(old))
	}
	obj.SetUID(old.GetUID())
	obj.SetCreationTimestamp(old.GetCreationTimestamp())
	oldSpec, hasSpec, err := spec(old)
	if err != nil {
		return err
	}
	gen := old.GetGeneration()
	if hasSpec {
		newSpec, _, err := spec(obj)
		if err != nil {
			return err
		}
		if !bytes.Equal(oldSpec, newSpec) {
			gen++
		}
	}
	obj.SetGeneration(gen)
	return nil
}
