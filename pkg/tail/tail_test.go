package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestFollowBasic(t *testing.T) {
	dir := t.TempDir()
	pod := filepath.Join(dir, "ns_pod_uid", "app")
	if err := os.MkdirAll(pod, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(pod, "0.log")
	appendFile(t, path, criLine("stdout", "F", "seq=0 before start"))
	r := startRunner(t, testConfig(filepath.Join(dir), t.TempDir()), Options{})
	appendFile(t, path, criLine("stdout", "P", "seq=1 part one, ")+criLine("stderr", "F", "seq=2 err")+criLine("stdout", "F", "part two"))
	// A new pod directory appears while running.
	pod2 := filepath.Join(dir, "ns_pod2_uid", "app")
	if err := os.MkdirAll(pod2, 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(pod2, "0.log"), `{"log":"seq=3 docker\n","stream":"stderr","time":"2026-11-26T03:55:09Z"}`+"\n")
	defer func() { t.Logf("%+v", r.snapshot()) }()
	waitFor(t, 5*time.Second, "4 lines", func() bool { return len(r.snapshot()) == 4 })
	r.stop()
	var got []string
	for _, x := range r.snapshot() {
		got = append(got, fmt.Sprintf("%s %s %s", filepath.Base(filepath.Dir(filepath.Dir(x.path))), x.stream, x.body))
	}
	want := []string{
		"ns_pod_uid stdout seq=0 before start",
		"ns_pod_uid stderr seq=2 err",
		"ns_pod_uid stdout seq=1 part one, part two",
		"ns_pod2_uid stderr seq=3 docker",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if n := testutil.ToFloat64(r.tl.m.linesRead.WithLabelValues("stdout")); n != 2 {
		t.Fatalf("stdout lines = %v", n)
	}
	if !strings.HasSuffix(r.snapshot()[0].path, "0.log") {
		t.Fatal("path")
	}
}
