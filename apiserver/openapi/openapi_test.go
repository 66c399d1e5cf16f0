package openapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/spec3"
	protomodels "k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver/openapi"
)

const (
	extGVK      = "x-kubernetes-group-version-kind"
	mediaProto  = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	testVersion = "v1.37.2"
)

// withSoonServed returns api.Resources() and the kinds the generated file
// covers that may be served soon (policy/v1 PodDisruptionBudget,
// events.k8s.io/v1 Event), those not served yet.
func withSoonServed() []api.Resource {
	out := api.Resources()
	for _, r := range []api.Resource{
		{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget", Name: "poddisruptionbudgets",
			Singular: "poddisruptionbudget", Namespaced: true, New: func() api.Object { return &policyv1.PodDisruptionBudget{} }},
		{Group: "events.k8s.io", Version: "v1", Kind: "Event", Name: "events", Singular: "event",
			Namespaced: true, New: func() api.Object { return &eventsv1.Event{} }},
	} {
		if _, served := api.ResourceFor(r.GVK()); !served {
			out = append(out, r)
		}
	}
	return out
}

// kinds returns the group-version-kinds whose schemas a client looks up:
// every kind and its list.
func kinds(resources []api.Resource) []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for _, r := range resources {
		out = append(out, r.GVK(), r.GVK().GroupVersion().WithKind(r.ListKind()))
	}
	return out
}

// gvksOf reads an x-kubernetes-group-version-kind extension as it decodes
// from JSON ([]any of map[string]any) or from the protobuf document's YAML
// ([]any of map[any]any), as kubectl reads it.
func gvksOf(ext any) []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	list, _ := ext.([]any)
	for _, item := range list {
		get := func(k string) string { return "" }
		switch m := item.(type) {
		case map[string]any:
			get = func(k string) string { s, _ := m[k].(string); return s }
		case map[any]any:
			get = func(k string) string { s, _ := m[k].(string); return s }
		}
		out = append(out, schema.GroupVersionKind{Group: get("group"), Version: get("version"), Kind: get("kind")})
	}
	return out
}

// buildV2 builds the v2 document of resources and encodes it as JSON.
func buildV2(tb testing.TB, resources []api.Resource) (*spec.Swagger, []byte) {
	tb.Helper()
	doc, err := openapi.BuildV2(resources, testVersion)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return doc, b
}

func TestOpenAPIV2(t *testing.T) {
	resources := withSoonServed()
	doc, b := buildV2(t, resources)
	// Servers behind one address must answer the same bytes (and ETag).
	if _, again := buildV2(t, resources); string(again) != string(b) {
		t.Error("two builds differ")
	}
	parsed, err := openapi_v2.ParseDocument(b)
	if err != nil {
		t.Fatalf("the v2 document does not parse as swagger 2.0: %v", err)
	}
	if parsed.Swagger != "2.0" || parsed.Info.Version != testVersion {
		t.Errorf("swagger %q, info.version %q", parsed.Swagger, parsed.Info.Version)
	}
	// kubectl reads the protobuf encoding through kube-openapi's proto
	// models: every kind must be found there by its group-version-kind.
	pb, err := proto.Marshal(parsed)
	if err != nil {
		t.Fatal(err)
	}
	var fromPB openapi_v2.Document
	if err := proto.Unmarshal(pb, &fromPB); err != nil {
		t.Fatal(err)
	}
	models, err := protomodels.NewOpenAPIData(&fromPB)
	if err != nil {
		t.Fatalf("kubectl's models reject the document: %v", err)
	}
	found := map[schema.GroupVersionKind]string{}
	for _, name := range models.ListModels() {
		for _, gvk := range gvksOf(models.LookupModel(name).GetExtensions()[extGVK]) {
			found[gvk] = name
		}
	}
	for _, gvk := range kinds(resources) {
		if found[gvk] == "" {
			t.Errorf("no definition carries %s", gvk)
		}
	}
	if got := found[schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}]; got != "io.k8s.api.apps.v1.Deployment" {
		t.Errorf("apps/v1 Deployment is %q", got)
	}

	// Every kind has a PATCH with its GVK, and lists no parameter the API
	// ignores: kubectl validates itself when fieldValidation is missing.
	patched := map[schema.GroupVersionKind]bool{}
	for path, item := range doc.Paths.Paths {
		for _, op := range []*spec.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op == nil {
				continue
			}
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				name := p.Name
				if p.Ref.String() != "" {
					name = p.Ref.String()
				}
				for _, ignored := range []string{"fieldValidation", "dryRun", "fieldManager"} {
					if strings.Contains(name, ignored) {
						t.Errorf("%s %s lists %s", path, op.ID, name)
					}
				}
			}
		}
		if item.Patch != nil && !strings.HasSuffix(path, "/status") {
			gvks := gvksOf([]any{item.Patch.Extensions[extGVK]})
			patched[gvks[0]] = true
		}
	}
	for _, r := range resources {
		if !patched[r.GVK()] {
			t.Errorf("no PATCH operation for %s", r.GVK())
		}
	}
}

func TestOpenAPIV3(t *testing.T) {
	resources := withSoonServed()
	docs, err := openapi.BuildV3(resources, testVersion)
	if err != nil {
		t.Fatal(err)
	}
	again, err := openapi.BuildV3(resources, testVersion)
	if err != nil {
		t.Fatal(err)
	}
	for gv, doc := range docs {
		b1, _ := json.Marshal(doc)
		b2, _ := json.Marshal(again[gv])
		if string(b1) != string(b2) {
			t.Errorf("%s: two builds differ", gv)
		}
	}
	var gvs []string
	for gv := range docs {
		gvs = append(gvs, gv)
	}
	slices.Sort(gvs)
	want := []string{"api/v1", "apis/apps/v1", "apis/autoscaling/v2", "apis/batch/v1", "apis/coordination.k8s.io/v1", "apis/discovery.k8s.io/v1",
		"apis/events.k8s.io/v1", "apis/policy/v1", "version"}
	if !slices.Equal(gvs, want) {
		t.Fatalf("documents %v, want %v", gvs, want)
	}
	for _, r := range resources {
		gv := strings.TrimPrefix(gvPath(r), "/")
		b, err := json.Marshal(docs[gv])
		if err != nil {
			t.Fatal(err)
		}
		var doc spec3.OpenAPI
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s does not parse as OpenAPI v3: %v", gv, err)
		}
		if doc.Version != "3.0.0" || doc.Paths.Paths[gvPath(r)+"/"+collection(r)] == nil {
			t.Fatalf("%s: version %q, paths %v", gv, doc.Version, keys(doc.Paths.Paths))
		}
		for _, gvk := range []schema.GroupVersionKind{r.GVK(), r.GVK().GroupVersion().WithKind(r.ListKind())} {
			ok := false
			for _, s := range doc.Components.Schemas {
				ok = ok || slices.Contains(gvksOf(s.Extensions[extGVK]), gvk)
			}
			if !ok {
				t.Errorf("%s: no schema carries %s", gv, gvk)
			}
		}
	}
	// A document holds only what its own paths refer to.
	if _, ok := docs["apis/apps/v1"].Components.Schemas["io.k8s.api.core.v1.Node"]; ok {
		t.Error("apis/apps/v1 holds io.k8s.api.core.v1.Node")
	}
}

func gvPath(r api.Resource) string {
	if r.Group == "" {
		return "/api/" + r.Version
	}
	return "/apis/" + r.Group + "/" + r.Version
}

func collection(r api.Resource) string {
	if r.Namespaced {
		return "namespaces/{namespace}/" + r.Name
	}
	return r.Name
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func serve(t testing.TB) *httptest.Server {
	mux := http.NewServeMux()
	openapi.New(api.Resources(), testVersion).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t testing.TB, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestOpenAPIServeV2(t *testing.T) {
	srv := serve(t)
	tests := []struct {
		name, accept, contentType string
		decode                    func([]byte) error
	}{
		{"protobuf, as kubectl asks", mediaProto, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
			func(b []byte) error { return proto.Unmarshal(b, &openapi_v2.Document{}) }},
		{"json", "application/json", "application/json",
			func(b []byte) error { _, err := openapi_v2.ParseDocument(b); return err }},
		{"no Accept", "", "application/json",
			func(b []byte) error { return json.Unmarshal(b, &spec.Swagger{}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := get(t, srv.URL+openapi.PathV2, "Accept", tc.accept)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.contentType {
				t.Fatalf("%d %s: %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			if err := tc.decode(b); err != nil {
				t.Fatal(err)
			}
			etag := resp.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			resp, b = get(t, srv.URL+openapi.PathV2, "Accept", tc.accept, "If-None-Match", etag)
			if resp.StatusCode != http.StatusNotModified || len(b) != 0 {
				t.Fatalf("with If-None-Match %s: %d, %d bytes", etag, resp.StatusCode, len(b))
			}
		})
	}
	if resp, _ := get(t, srv.URL+openapi.PathV2, "Accept", "text/html"); resp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("Accept text/html: %d, want 406", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+openapi.PathV2, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

func TestOpenAPIServeV3(t *testing.T) {
	srv := serve(t)
	resp, b := get(t, srv.URL+openapi.PathV3, "Accept", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var index v3Index
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(index.Paths), []string{"api/v1", "apis/apps/v1", "apis/autoscaling/v2", "apis/batch/v1", "apis/coordination.k8s.io/v1",
		"apis/discovery.k8s.io/v1", "apis/events.k8s.io/v1", "apis/policy/v1", "version"}; !slices.Equal(got, want) {
		t.Fatalf("index %v, want %v", got, want)
	}
	apps := index.Paths["apis/apps/v1"].ServerRelativeURL
	if !strings.HasPrefix(apps, "/openapi/v3/apis/apps/v1?hash=") {
		t.Fatalf("apps/v1 at %q", apps)
	}
	resp, b = get(t, srv.URL+apps, "Accept", "application/json")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "public, immutable" {
		t.Fatalf("%s: %d, Cache-Control %q", apps, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	var doc spec3.OpenAPI
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"] == nil {
		t.Fatal("no Deployment schema in apis/apps/v1")
	}
	tests := []struct {
		name   string
		path   string
		header []string
		code   int
	}{
		{"unchanged", apps, []string{"If-None-Match", resp.Header.Get("ETag")}, http.StatusNotModified},
		{"stale hash", "/openapi/v3/apis/apps/v1?hash=0", nil, http.StatusMovedPermanently},
		{"no hash", "/openapi/v3/apis/apps/v1", nil, http.StatusOK},
		{"index unchanged", "/openapi/v3", []string{"If-None-Match", etag(t, srv.URL+openapi.PathV3)}, http.StatusNotModified},
		{"unknown group-version", "/openapi/v3/apis/apps/v2", nil, http.StatusNotFound},
		{"not served", "/openapi/v3/apis/storage.k8s.io/v1", nil, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := get(t, srv.URL+tc.path, append([]string{"Accept", "application/json"}, tc.header...)...)
			if resp.StatusCode != tc.code {
				t.Fatalf("%d, want %d: %.200s", resp.StatusCode, tc.code, b)
			}
		})
	}
}

// BenchmarkOpenAPIBuild measures what a Handler does once, on the first
// request of each document: v2, building the swagger document from the
// generated definitions and encoding it as JSON; v2-protobuf, turning that
// JSON into the protobuf kubectl asks for; v3, building and encoding
// every group-version's document. It reports their sizes, and for
// "served" the heap a Handler keeps once it has answered every document.
func BenchmarkOpenAPIBuild(b *testing.B) {
	resources := api.Resources()
	b.Run("v2", func(b *testing.B) {
		var j []byte
		for b.Loop() {
			_, j = buildV2(b, resources)
		}
		b.ReportMetric(float64(len(j)), "json-bytes")
	})
	b.Run("v2-protobuf", func(b *testing.B) {
		_, j := buildV2(b, resources)
		var pb []byte
		for b.Loop() {
			parsed, err := openapi_v2.ParseDocument(j)
			if err != nil {
				b.Fatal(err)
			}
			if pb, err = proto.Marshal(parsed); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(pb)), "proto-bytes")
	})
	b.Run("v3", func(b *testing.B) {
		var total int
		for b.Loop() {
			docs, err := openapi.BuildV3(resources, testVersion)
			if err != nil {
				b.Fatal(err)
			}
			total = 0
			for _, d := range docs {
				j, err := json.Marshal(d)
				if err != nil {
					b.Fatal(err)
				}
				total += len(j)
			}
		}
		b.ReportMetric(float64(total), "json-bytes")
	})
	b.Run("served", func(b *testing.B) {
		var retained uint64
		for b.Loop() {
			before := heap()
			srv := serve(b)
			get(b, srv.URL+openapi.PathV2, "Accept", mediaProto)
			get(b, srv.URL+openapi.PathV2, "Accept", "application/json")
			_, idx := get(b, srv.URL+openapi.PathV3)
			var index v3Index
			if err := json.Unmarshal(idx, &index); err != nil {
				b.Fatal(err)
			}
			for _, p := range index.Paths {
				get(b, srv.URL+p.ServerRelativeURL, "Accept", "application/json")
			}
			retained = heap() - before
			srv.Close()
		}
		b.ReportMetric(float64(retained), "heap-bytes")
	})
}

// heap returns the bytes of live heap objects, after collecting twice
// (so that sync.Pool victims are gone too).
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// v3Index is the document at /openapi/v3.
type v3Index struct {
	Paths map[string]struct {
		ServerRelativeURL string `json:"serverRelativeURL"`
	} `json:"paths"`
}

func etag(t testing.TB, url string) string {
	resp, _ := get(t, url)
	return resp.Header.Get("ETag")
}

// TestOpenAPIConcurrentFirstRequests: the first requests of every
// document, at once, each get a whole document (run with -race).
func TestOpenAPIConcurrentFirstRequests(t *testing.T) {
	srv := serve(t)
	paths := []string{openapi.PathV2, openapi.PathV3, "/openapi/v3/api/v1", "/openapi/v3/apis/apps/v1",
		"/openapi/v3/apis/coordination.k8s.io/v1", "/openapi/v3/version"}
	var wg sync.WaitGroup
	for _, p := range append(paths, paths...) {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + p) // no Accept: JSON
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK || !json.Valid(b) {
				t.Errorf("GET %s: %d, %d bytes, %v", p, resp.StatusCode, len(b), err)
			}
		})
	}
	wg.Wait()
}
