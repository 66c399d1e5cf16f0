package containerd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

func TestProcessArgs(t *testing.T) {
	ep, cmd := []string{"/app"}, []string{"serve"}
	for _, tc := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image defaults", nil, nil, []string{"/app", "serve"}},
		{"args replace cmd", nil, []string{"sleep", "1"}, []string{"/app", "sleep", "1"}},
		{"command replaces both", []string{"/bin/sh"}, nil, []string{"/bin/sh"}},
		{"command and args", []string{"/bin/sh", "-c"}, []string{"echo hi"}, []string{"/bin/sh", "-c", "echo hi"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := processArgs(ep, cmd, tc.command, tc.args); !slices.Equal(got, tc.want) {
				t.Errorf("processArgs = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCPUQuota(t *testing.T) {
	for _, tc := range []struct{ millis, want int64 }{{1000, 100000}, {250, 25000}, {1, 1000}, {2500, 250000}} {
		if got := cpuQuota(tc.millis); got != tc.want {
			t.Errorf("cpuQuota(%d) = %d, want %d", tc.millis, got, tc.want)
		}
	}
}

func TestLogLines(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 5, time.UTC)
	long := strings.Repeat("x", maxLogLine+10)
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"lines", "a\nb\n", []string{"stdout F a", "stdout F b"}},
		{"unterminated last line", "a\nb", []string{"stdout F a", "stdout F b"}},
		{"empty line", "\n", []string{"stdout F "}},
		{"long line split", long + "\n", []string{"stdout P " + long[:maxLogLine], "stdout F " + long[maxLogLine:]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.log")
			lf, err := openLogFile(path, 1<<30, func() time.Time { return now })
			if err != nil {
				t.Fatal(err)
			}
			copyLines(strings.NewReader(tc.in), "stdout", lf)
			lf.close()
			b, _ := os.ReadFile(path)
			var want strings.Builder
			for _, l := range tc.want {
				want.WriteString("2026-11-22T00:00:00.000000005Z " + l + "\n")
			}
			if string(b) != want.String() {
				t.Errorf("log = %q, want %q", b, want.String())
			}
		})
	}
}

func TestLogRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	lf, err := openLogFile(path, 100, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := lf.writeLine("stderr", tagFull, []byte("0123456789012345678901234567890123456789")); err != nil {
			t.Fatal(err)
		}
	}
	lf.close()
	cur, _ := os.ReadFile(path)
	old, _ := os.ReadFile(path + ".1")
	if len(cur) > 100 || len(old) > 100 || strings.Count(string(cur)+string(old), "\n") < 2 {
		t.Errorf("after rotation: current %d bytes, old %d bytes; want both at most 100 and the latest lines kept", len(cur), len(old))
	}
}

func TestContainerState(t *testing.T) {
	r := &Runtime{}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	exited := created.Add(time.Minute)
	base := map[string]string{
		LabelSandboxID: "sb", runtime.LabelPodUID: "uid", runtime.LabelContainerName: "app", runtime.LabelAttempt: "2",
		LabelImage: "img", LabelImageRef: "sha256:1", userLabelPrefix + "k": "v", annotationPrefix + "a": "b",
	}
	with := func(extra map[string]string) map[string]string {
		m := copyMap(base)
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	started := map[string]string{LabelStartedAt: created.Add(time.Second).Format(time.RFC3339Nano)}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		task   *tasktypes.Process
		state  runtime.ContainerState
		code   int32
		reason string
	}{
		{"never started", base, nil, runtime.ContainerCreated, 0, ""},
		{"running", with(started), &tasktypes.Process{Status: tasktypes.Status_RUNNING}, runtime.ContainerRunning, 0, ""},
		{"exited, not yet recorded", with(started), &tasktypes.Process{Status: tasktypes.Status_STOPPED, ExitStatus: 3, ExitedAt: timestamppb.New(exited)}, runtime.ContainerExited, 3, "Error"},
		{"exited 0", with(started), &tasktypes.Process{Status: tasktypes.Status_STOPPED, ExitedAt: timestamppb.New(exited)}, runtime.ContainerExited, 0, "Completed"},
		{"recorded, task deleted", with(map[string]string{LabelFinishedAt: exited.Format(time.RFC3339Nano), LabelExitCode: "137", LabelReason: "OOMKilled"}), nil, runtime.ContainerExited, 137, "OOMKilled"},
		{"task lost", with(started), nil, runtime.ContainerExited, 255, "Error"},
		{"unknown", with(started), &tasktypes.Process{Status: tasktypes.Status_UNKNOWN}, runtime.ContainerUnknown, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := r.container(containers.Container{ID: "c1", Labels: tc.labels, CreatedAt: created}, tc.task)
			if c.State != tc.state || c.ExitCode != tc.code || c.Reason != tc.reason {
				t.Errorf("state %s code %d reason %q, want %s %d %q", c.State, c.ExitCode, c.Reason, tc.state, tc.code, tc.reason)
			}
			if c.SandboxID != "sb" || c.PodUID != "uid" || c.Metadata != (runtime.ContainerMetadata{Name: "app", Attempt: 2}) ||
				c.Labels["k"] != "v" || len(c.Labels) != 1 || c.Annotations["a"] != "b" || c.ImageRef != "sha256:1" || !c.CreatedAt.Equal(created) {
				t.Errorf("container = %+v: metadata, labels or annotations lost", c)
			}
			if c.State == runtime.ContainerExited && !c.FinishedAt.IsZero() && !c.FinishedAt.Equal(exited) {
				t.Errorf("finishedAt %v, want %v", c.FinishedAt, exited)
			}
		})
	}
}

func TestSecurityOpts(t *testing.T) {
	tests := []struct {
		name    string
		ann     map[string]string
		wantN   int
		wantErr string
	}{
		{name: "none", ann: nil, wantN: 0},
		{name: "user", ann: map[string]string{runtime.AnnotationRunAsUser: "1000"}, wantN: 1},
		{name: "user and group", ann: map[string]string{runtime.AnnotationRunAsUser: "1000", runtime.AnnotationRunAsGroup: "2000"}, wantN: 1},
		{name: "read-only root", ann: map[string]string{runtime.AnnotationReadOnlyRootfs: "true"}, wantN: 1},
		{name: "all", ann: map[string]string{runtime.AnnotationRunAsUser: "1", runtime.AnnotationReadOnlyRootfs: "true"}, wantN: 2},
		{name: "bad uid", ann: map[string]string{runtime.AnnotationRunAsUser: "root"}, wantErr: "not a numeric id"},
		{name: "group alone", ann: map[string]string{runtime.AnnotationRunAsGroup: "5"}, wantErr: "runAsGroup without runAsUser"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := securityOpts(tt.ann)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("securityOpts(%v) error = %v, want %q", tt.ann, err, tt.wantErr)
				}
				return
			}
			if err != nil || len(opts) != tt.wantN {
				t.Fatalf("securityOpts(%v) = %d options, %v; want %d", tt.ann, len(opts), err, tt.wantN)
			}
		})
	}
}

func TestSandboxFiles(t *testing.T) {
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	dns := &runtime.DNSConfig{Servers: []string{"10.0.0.5"}, Searches: []string{"demo.svc.cluster.local", "svc.cluster.local"}, Options: []string{"ndots:5"}}
	for _, tc := range []struct {
		name              string
		ip                string
		cfg               runtime.SandboxConfig
		wantHosts, resolv string
	}{
		{"plain: the host's resolv.conf", "10.244.1.5", runtime.SandboxConfig{},
			"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.244.1.5\tweb\n", string(hostResolv)},
		{"cluster DNS, FQDN and aliases", "10.244.1.5", runtime.SandboxConfig{DNS: dns, HostnameFQDN: "web.db.demo.svc.cluster.local",
			HostAliases: []runtime.HostAlias{{IP: "192.0.2.1", Hostnames: []string{"foo.local", "bar.local"}}}},
			"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.244.1.5\tweb.db.demo.svc.cluster.local\tweb\n" +
				"\n# Entries added by HostAliases.\n192.0.2.1\tfoo.local\tbar.local\n",
			"nameserver 10.0.0.5\nsearch demo.svc.cluster.local svc.cluster.local\noptions ndots:5\n"},
		{"no IP", "", runtime.SandboxConfig{DNS: &runtime.DNSConfig{}},
			"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Runtime{dir: t.TempDir()}
			rec := &sandboxRecord{ID: "sb1", IP: tc.ip, Hostname: "web"}
			if err := os.MkdirAll(r.sandboxDir(rec.ID), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := r.writeSandboxFiles(rec, tc.cfg); err != nil {
				t.Fatal(err)
			}
			for file, want := range map[string]string{"hosts": tc.wantHosts, "resolv.conf": tc.resolv, "hostname": "web\n"} {
				got, err := os.ReadFile(filepath.Join(r.sandboxDir(rec.ID), file))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != want {
					t.Errorf("%s:\n got %q\nwant %q", file, got, want)
				}
			}
		})
	}
}
