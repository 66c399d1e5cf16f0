package diff

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

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
var syncAnnotations = []string{api.AnnotationCommit, api.AnnotationSource}

// preservedAnnotationPrefixes are annotations controllers set on Git
// objects and sync keeps (as sync/apply does).
var preservedAnnotationPrefixes = []string{"deployment.kubernetes.io/"}

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
// app.kubernetes.io/managed-by=bosun) of every kind Git may define.
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
	return out, nil
}

// Desired returns the decoded manifests as objects carrying their
// bosun.dev/source annotation, ready for Objects. The manifests are not
// modified.
func Desired(objs []manifests.Object) []api.Object {
	out := make([]api.Object, 0, len(objs))
	for _, m := range objs {
		o, ok := m.Obj.DeepCopyObject().(api.Object)
		if !ok {
			continue // every manifests.Obj is a api.Object
		}
		an := o.GetAnnotations()
		if an == nil {
			an = map[string]string{}
		}
		an[api.AnnotationSource] = m.File + ":" + strconv.Itoa(m.Line)
		o.SetAnnotations(an)
		out = append(out, o)
	}
	return out
}

type entry struct {
	r   api.Resource
	obj api.Object
}

func key(r api.Resource, o api.Object) string {
	return r.Kind + "\x00" + o.GetNamespace() + "\x00" + o.GetName()
}

// Objects compares the live objects with the desired ones and returns the
// changes a sync would make, sorted by kind, namespace and name. Objects
// of kinds the store does not know are an error.
func Objects(live, desired []api.Object) ([]Change, error) {
	liveBy := map[string]entry{}
	for _, o := range live {
		r, err := api.ResourceOf(o)
		if err != nil {
			return nil, fmt.Errorf("diff: live object %s: %w", o.GetName(), err)
		}
		liveBy[key(r, o)] = entry{r, o}
	}
	var out []Change
	seen := map[string]bool{}
	for _, o := range desired {
		r, err := api.ResourceOf(o)
		if err != nil {
			return nil, fmt.Errorf("diff: desired object %s: %w", o.GetName(), err)
		}
		ns := o.GetNamespace()
		if r.Namespaced && ns == "" {
			ns = "default"
		}
		k := r.Kind + "\x00" + ns + "\x00" + o.GetName()
		seen[k] = true
		c := Change{Kind: r.Kind, Namespace: ns, Name: o.GetName(), Source: o.GetAnnotations()[api.AnnotationSource]}
		want, err := Normalize(o)
		if err != nil {
			return nil, err
		}
		if r.Namespaced {
			meta(want)["namespace"] = ns
		}
		cur, ok := liveBy[k]
		if !ok {
			c.Op = Added
			c.RollsOut = r.Kind == "Deployment"
			if c.Desired, err = yaml.Marshal(want); err != nil {
				return nil, fmt.Errorf("diff: %s: %w", c.ID(), err)
			}
			out = append(out, c)
			continue
		}
		have, err := Normalize(cur.obj)
		if err != nil {
			return nil, err
		}
		keepLiveOwned(r, cur.obj, have, want)
		if reflect.DeepEqual(have, want) {
			continue
		}
		c.Op = Changed
		if r.Kind == "Deployment" {
			c.RollsOut = !reflect.DeepEqual(template(have), template(want))
		}
		if c.Live, err = yaml.Marshal(have); err != nil {
			return nil, fmt.Errorf("diff: %s: %w", c.ID(), err)
		}
		if c.Desired, err = yaml.Marshal(want); err != nil {
			return nil, fmt.Errorf("diff: %s: %w", c.ID(), err)
		}
		out = append(out, c)
	}
	for k, e := range liveBy {
		if seen[k] {
			continue
		}
		have, err := Normalize(e.obj)
		if err != nil {
			return nil, err
		}
		c := Change{Op: Pruned, Kind: e.r.Kind, Namespace: e.obj.GetNamespace(), Name: e.obj.GetName(),
			Source: e.obj.GetAnnotations()[api.AnnotationSource]}
		if c.Live, err = yaml.Marshal(have); err != nil {
			return nil, fmt.Errorf("diff: %s: %w", c.ID(), err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out, nil
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

// redactSecret replaces the values of a Secret's data and stringData by
// their size and a digest, so that a diff shows which keys changed without
// printing secrets into CI logs.
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
			sum := sha256.Sum256([]byte(s))
			d[k] = fmt.Sprintf("<redacted: %d bytes, sha256 %x>", len(s), sum[:6])
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

// keepLiveOwned copies into want what the control plane set on the live
// object and sync keeps when the manifest leaves it unset, and drops from
// have what sync would keep anyway, mirroring sync/apply's merge.
func keepLiveOwned(r api.Resource, live api.Object, have, want map[string]any) {
	wantAnn, _ := meta(want)["annotations"].(map[string]any)
	if haveAnn, ok := meta(have)["annotations"].(map[string]any); ok {
		for k, v := range haveAnn {
			if !hasAnyPrefix(k, preservedAnnotationPrefixes) {
				continue
			}
			if _, set := wantAnn[k]; !set {
				if wantAnn == nil {
					wantAnn = map[string]any{}
					meta(want)["annotations"] = wantAnn
				}
				wantAnn[k] = v
			}
		}
	}
	hs, _ := have["spec"].(map[string]any)
	ws, _ := want["spec"].(map[string]any)
	if hs == nil || ws == nil {
		return
	}
	switch r.Kind {
	case "Service":
		if ip, _ := ws["clusterIP"].(string); ip == "" {
			for _, k := range []string{"clusterIP", "clusterIPs"} {
				if v, ok := hs[k]; ok {
					ws[k] = v
				}
			}
		}
		hp, _ := hs["ports"].([]any)
		wp, _ := ws["ports"].([]any)
		for _, p := range wp {
			o, _ := p.(map[string]any)
			if o == nil || o["nodePort"] != nil {
				continue
			}
			for _, q := range hp {
				c, _ := q.(map[string]any)
				if c != nil && c["port"] == o["port"] && c["protocol"] == o["protocol"] && c["nodePort"] != nil {
					o["nodePort"] = c["nodePort"]
				}
			}
		}
	case "Pod":
		if n, _ := ws["nodeName"].(string); n == "" && hs["nodeName"] != nil {
			ws["nodeName"] = hs["nodeName"]
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
