package manifests

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/bad")

// TestBadGolden loads each testdata/bad file as a tree of its own and
// compares all problems with the file's .golden twin.
func TestBadGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") {
			continue
		}
		n++
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			opts, err := goldenOptions(data)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Load(fstest.MapFS{name: {Data: data}}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Problems) == 0 {
				t.Fatalf("no problems reported for %s", name)
			}
			if strings.HasPrefix(name, "warn-") {
				if errs := res.Problems.Errors(); len(errs) > 0 {
					t.Errorf("warning case has errors:\n%s", errs)
				}
			} else if len(res.Problems.Errors()) == 0 {
				t.Errorf("bad case has no errors:\n%s", res.Problems)
			}
			for _, p := range res.Problems {
				if p.File != name || p.Line <= 0 || p.Message == "" {
					t.Errorf("problem without file, line or message: %#v", p)
				}
			}
			got := res.Problems.String() + "\n"
			golden := strings.TrimSuffix(f, filepath.Ext(f)) + ".golden"
			testutil.Golden(t, golden, []byte(got), *update)
		})
	}
	if n < 110 {
		t.Errorf("only %d bad cases, want at least 110", n)
	}
}

// goldenOptions reads the Options of a golden case from its leading
// "# golden: KEY=VALUE" comment lines:
//
//	# golden: service-cidr=10.96.0.0/16        (repeatable)
//	# golden: live-namespaces=shop,web         (sets Options.Live)
//	# golden: live-service=NS/NAME clusterIP=IP nodePort=PORT  (sets Options.Live)
//	# golden: create-namespaces                (sets Options.Live)
//	# golden: max-documents=N
//	# golden: require-encrypted-secrets
func goldenOptions(data []byte) (Options, error) {
	var opts Options
	live := func() *LiveState {
		if opts.Live == nil {
			opts.Live = &LiveState{Namespaces: map[string]bool{}}
		}
		return opts.Live
	}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "# golden: ")
		if !ok {
			continue
		}
		key, val, _ := strings.Cut(rest, "=")
		switch key {
		case "service-cidr":
			p, err := netip.ParsePrefix(val)
			if err != nil {
				return opts, fmt.Errorf("golden header %q: %w", line, err)
			}
			opts.ServiceCIDRs = append(opts.ServiceCIDRs, p)
		case "live-namespaces":
			for _, ns := range strings.Split(val, ",") {
				live().Namespaces[ns] = true
			}
		case "live-service":
			svc, err := goldenService(val)
			if err != nil {
				return opts, fmt.Errorf("golden header %q: %w", line, err)
			}
			live().Services = append(live().Services, svc)
		case "create-namespaces":
			live().CreateNamespaces = true
		case "max-documents":
			n, err := strconv.Atoi(val)
			if err != nil {
				return opts, fmt.Errorf("golden header %q: %w", line, err)
			}
			opts.Limits.MaxDocuments = n
		case "require-encrypted-secrets":
			opts.RequireEncryptedSecrets = true
		default:
			return opts, fmt.Errorf("golden header %q: unknown key %q", line, key)
		}
	}
	return opts, nil
}

// goldenService parses "NS/NAME clusterIP=IP nodePort=PORT".
func goldenService(spec string) (*corev1.Service, error) {
	fields := strings.Fields(spec)
	if len(fields) == 0 {
		return nil, fmt.Errorf("want NS/NAME")
	}
	ns, name, _ := strings.Cut(fields[0], "/")
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "clusterIP":
			svc.Spec.ClusterIP = v
		case "nodePort":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("nodePort %q: %w", v, err)
			}
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Port: 80, NodePort: int32(n), Protocol: corev1.ProtocolTCP})
		default:
			return nil, fmt.Errorf("unknown field %q", k)
		}
	}
	return svc, nil
}

// TestGoodFiles checks that every testdata/good file loads without any
// problem, warnings included.
func TestGoodFiles(t *testing.T) {
	res, err := Load(os.DirFS("testdata/good"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ps := withoutPlainSecrets(res.Problems); len(ps) > 0 {
		t.Errorf("problems in testdata/good:\n%s", ps)
	}
	// testdata/good's one Secret is in plain text, as test data may be.
	if n := len(res.Problems) - len(withoutPlainSecrets(res.Problems)); n != 1 {
		t.Errorf("got %d plain-Secret warnings in testdata/good, want 1 (Secret shop/web-secret):\n%s", n, res.Problems)
	}
	if len(res.Objects) < 8 {
		t.Errorf("got %d objects from testdata/good, want at least 8 (one of each kind)", len(res.Objects))
	}
}

// withoutPlainSecrets drops the warnings about Secrets in plain text from
// ps, for test trees whose Secrets are plain on purpose.
func withoutPlainSecrets(ps Problems) Problems {
	var out Problems
	for _, p := range ps {
		if !p.Warning || !strings.HasPrefix(p.Message, "this Secret is in Git in plain text") {
			out = append(out, p)
		}
	}
	return out
}
