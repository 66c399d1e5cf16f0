package diff

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"sigs.k8s.io/yaml"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/sync/apply"
)

// Op says what a sync would do to one object.
type Op string

// The operations of a Change.
const (
	// Added: the revision defines an object the live state lacks.
	Added Op = "added"
	// Changed: both define the object and what sync owns differs.
	Changed Op = "changed"
	// Pruned: a synced object the revision no longer defines; sync deletes it.
	Pruned Op = "pruned"
)

// syncAnnotations are the annotations sync itself writes on every object;
// they change with every commit and are not part of the comparison.
var syncAnnotations = []string{api.AnnotationCommit, api.AnnotationSource, api.AnnotationRenderedBy}

// Change is one object a sync of the revision would add, change or prune.
type Change struct {
	Op        Op
	Kind      string
	Namespace string // "" for cluster-scoped kinds
	Name      string
	// Source is "path/in/repo.yaml:LINE" where the object is defined: in
	// the revision for Added and Changed, in the synced commit for Pruned
	// ("" when unknown).
	Source string
	// Live and Desired are the YAML of the normalized objects; Live is nil
	// for Added, Desired nil for Pruned.
	Live, Desired []byte
	// RollsOut is true for a Deployment whose pod template differs (Changed)
	// or that is new (Added): applying the revision starts a rollout.
	RollsOut bool
}

// ID returns "Kind namespace/name", or "Kind name" for cluster-scoped kinds.
func (c Change) ID() string {
	if c.Namespace == "" {
		return c.Kind + " " + c.Name
	}
	return c.Kind + " " + c.Namespace + "/" + c.Name
}

// Lister lists objects through bosun's API; *client.Client implements it.
type Lister interface {
	List(ctx context.Context, r api.Resource, ns, selector string) ([]api.Object, error)
}

// ListLive returns every object sync wrote (label
// app.kubernetes.io/managed-by=bosun) of every kind Git may define, and the
// HorizontalPodAutoscalers sync did not write: apply.Plan keeps the
// replicas of the objects they scale, so the diff does not show them.
func ListLive(ctx context.Context, l Lister) ([]api.Object, error) {
	sel := api.LabelManagedBy + "=" + api.ManagedByValue
	var out []api.Object
	for _, r := range apply.GitResources() {
		objs, err := l.List(ctx, r, "", sel)
		if err != nil {
			return nil, fmt.Errorf("diff: list %s: %w", r.Name, err)
		}
		out = append(out, objs...)
	}
	hpas, _ := api.Lookup("horizontalpodautoscalers")
	objs, err := l.List(ctx, hpas, "", api.LabelManagedBy+"!="+api.ManagedByValue)
	if err != nil {
		return nil, fmt.Errorf("diff: list %s: %w", hpas.Name, err)
	}
	return append(out, objs...), nil
}

// Desired returns the decoded manifests as sync writes them (see
// apply.Desired: bosun's label, the bosun.dev/source annotation, what Git
// may not set cleared), ready for Objects. The bosun.dev/commit annotation
// is empty: the comparison ignores it. The manifests are not modified.
func Desired(objs []manifests.Object) []api.Object {
	out := make([]api.Object, 0, len(objs))
	for _, m := range objs {
		o, err := apply.Desired(m, "")
		if err != nil {
			continue // every manifests.Obj is an api.Object
		}
		out = append(out, o)
	}
	return out
}

// Objects compares the live objects with the desired ones and returns the
// changes a sync would make, sorted by kind, namespace and name. The plan
// is sync's own (apply.Plan, the dry run of what sync/apply writes), so the
// live-owned fields sync keeps (status, a Service's allocated clusterIP and
// nodePorts, a bare Pod's nodeName, the deployment.kubernetes.io/
// annotations) are merged exactly as a sync merges them. An update that
// changes only sync's bookkeeping (the bosun.dev/source annotation, when a
// manifest moved within or between files) is not shown: nothing a person
// wrote changes. The replicas of an object a HorizontalPodAutoscaler scales
// are the HPA's, not a change (see apply.Plan). Objects of kinds the store
// does not know are an error.
func Objects(live, desired []api.Object) ([]Change, error) {
	plan, err := apply.Plan(live, desired)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	var out []Change
	for _, p := range plan {
		c := Change{Kind: p.Resource.Kind, Namespace: p.Namespace, Name: p.Name}
		switch p.Op {
		case apply.Create:
			c.Op, c.Source = Added, p.Object.GetAnnotations()[api.AnnotationSource]
			c.RollsOut = p.Resource.Kind == "Deployment"
			want, err := normalizeAt(p.Object, p.Namespace)
			if err != nil {
				return nil, err
			}
			if c.Desired, err = yaml.Marshal(want); err != nil {
				return nil, fmt.Errorf("diff: %s: %w", c.ID(), err)
			}
		case apply.Update:
			have, err := Normalize(p.Live)
			if err != nil {
				return nil, err
			}
			want, err := Normalize(p.Object)
			if err != nil {
				return nil, err
			}
			if reflect.DeepEqual(have, want) {
				continue // only sync's bookkeeping annotations change
			}
			c.Op, c.Source = Changed, p.Object.GetAnnotations()[api.AnnotationSource]
			if p.Resource.Kind == "Deployment" {
				c.RollsOut = !reflect.DeepEqual(template(have), template(want))
			}
			if c.Live, err = yaml.Marshal(have); err != nil {
				return nil, fmt.Errorf("diff: %s: %w", c.ID(), err)
			}
			if c.Desired, err = yaml.Marshal(want); err != nil {
				return nil, fmt.Errorf("diff: %s: %w", c.ID(), err)
			}
		case apply.Prune:
			c.Op, c.Source = Pruned, p.Live.GetAnnotations()[api.AnnotationSource]
			have, err := Normalize(p.Live)
			if err != nil {
				return nil, err
			}
			if c.Live, err = yaml.Marshal(have); err != nil {
				return nil, fmt.Errorf("diff: %s: %w", c.ID(), err)
			}
		default:
			return nil, fmt.Errorf("diff: %s: unknown plan operation %q", c.ID(), p.Op)
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// normalizeAt normalizes obj as stored in namespace ns (a namespaced object
// from Git may leave its namespace to the default).
func normalizeAt(obj api.Object, ns string) (map[string]any, error) {
	m, err := Normalize(obj)
	if err != nil {
		return nil, err
	}
	if ns != "" {
		meta(m)["namespace"] = ns
	}
	return m, nil
}

// Normalize returns what sync owns of obj as a generic map: apiVersion,
// kind, metadata with only name, namespace, labels (without
// app.kubernetes.io/managed-by) and annotations (without bosun.dev/commit
// and bosun.dev/source), and every other top-level field except status.
// Empty label and annotation maps are left out.
func Normalize(obj api.Object) (map[string]any, error) {
	r, err := api.ResourceOf(obj)
	if err != nil {
		return nil, fmt.Errorf("diff: normalize %s: %w", obj.GetName(), err)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("diff: encode %s %s: %w", r.Kind, obj.GetName(), err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("diff: decode %s %s: %w", r.Kind, obj.GetName(), err)
	}
	delete(m, "status")
	if r.Kind == "Secret" {
		redactSecret(m)
	}
	m["apiVersion"] = r.APIVersion()
	m["kind"] = r.Kind
	md := map[string]any{"name": obj.GetName()}
	if ns := obj.GetNamespace(); ns != "" {
		md["namespace"] = ns
	}
	if l := obj.GetLabels(); len(l) > 0 {
		lm := map[string]any{}
		for k, v := range l {
			if k != api.LabelManagedBy {
				lm[k] = v
			}
		}
		if len(lm) > 0 {
			md["labels"] = lm
		}
	}
	if an := obj.GetAnnotations(); len(an) > 0 {
		am := map[string]any{}
		for k, v := range an {
			if !isSyncAnnotation(k) {
				am[k] = v
			}
		}
		if len(am) > 0 {
			md["annotations"] = am
		}
	}
	m["metadata"] = md
	return m, nil
}

// redactKey keys the tokens redactSecret prints: drawn once per process
// and never shown, so equal values give equal tokens within one run (a diff
// shows which keys changed) while a token says nothing about the value
// (no length, and no digest anyone could test guesses against).
var redactKey = func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(fmt.Sprintf("diff: no randomness for redacting Secrets: %v", err))
	}
	return k
}()

// redactSecret replaces the values of a Secret's data and stringData by
// an opaque token, so that a diff shows which keys changed (and only that)
// without printing secrets into CI logs.
func redactSecret(m map[string]any) {
	for _, field := range []string{"data", "stringData"} {
		d, _ := m[field].(map[string]any)
		for k, v := range d {
			s, _ := v.(string)
			if field == "data" {
				if b, err := base64.StdEncoding.DecodeString(s); err == nil {
					s = string(b)
				}
			}
			mac := hmac.New(sha256.New, redactKey)
			mac.Write([]byte(s))
			d[k] = fmt.Sprintf("<redacted value %x>", mac.Sum(nil)[:6])
		}
	}
}

func isSyncAnnotation(k string) bool {
	for _, a := range syncAnnotations {
		if k == a {
			return true
		}
	}
	return false
}

func meta(m map[string]any) map[string]any {
	md, _ := m["metadata"].(map[string]any)
	return md
}

func template(m map[string]any) any {
	spec, _ := m["spec"].(map[string]any)
	return spec["template"]
}
