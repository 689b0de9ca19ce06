package node

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// repoRoot is the repository's top directory (this package is test/node).
func repoRoot(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// requireNode skips the test unless FERRY_NODE=1.
func requireNode(t *testing.T) {
	t.Helper()
	if os.Getenv("FERRY_NODE") != "1" {
		t.Skip("FERRY_NODE=1 is not set: this test brings up a real node (containerd, kubelet; root, minutes) with hack/node.sh")
	}
	if os.Getuid() != 0 {
		t.Skip("FERRY_NODE=1 but not root: hack/node.sh needs root (containerd, kubelet, cgroups, a bridge)")
	}
}

// cluster is a node brought up by hack/node.sh.
type cluster struct {
	dir     string // hack/node.sh's state directory
	node    string // the node's name
	apiPort string
	kconfig string // the admin kubeconfig
	script  string // hack/node.sh
	cs      *kubernetes.Clientset
}

// run runs a command, logs its duration and returns its stdout; it fails the
// test with the command's output if it fails.
func run(t testing.TB, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot(t)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s: %s", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out.String(), tail(errb.String(), 60))
	}
	for _, l := range strings.Split(errb.String(), "\n") {
		if strings.HasPrefix(l, "node.sh: ") {
			t.Log(l) // hack/node.sh's steps and their times
		}
	}
	return out.String()
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kubeletSysctls reads the kernel settings the kubelet changes when it
// starts (hack/node.sh's KUBELET_SYSCTLS).
func kubeletSysctls(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, k := range []string{"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
		"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes"} {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(k, ".", "/"))
		if err != nil {
			t.Fatal(err)
		}
		m[k] = strings.TrimSpace(string(b))
	}
	return m
}

// startCluster brings a node up (or uses the one FERRY_NODE_DIR names, left
// running) and takes it down at cleanup.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	script := filepath.Join(repoRoot(t), "hack", "node.sh")
	dir := os.Getenv("FERRY_NODE_DIR")
	if dir == "" {
		var err error
		dir, err = os.MkdirTemp("", "ferry-node-")
		if err != nil {
			t.Fatal(err)
		}
		before := kubeletSysctls(t)
		t.Cleanup(func() {
			if os.Getenv("FERRY_NODE_KEEP") == "1" {
				t.Logf("FERRY_NODE_KEEP=1: the node keeps running; hack/node.sh down %s", dir)
				return
			}
			start := time.Now()
			out, err := exec.Command(script, "down", dir).CombinedOutput()
			if err != nil {
				t.Errorf("hack/node.sh down: %v\n%s", err, out)
				return
			}
			t.Logf("hack/node.sh down: %s", time.Since(start).Round(100*time.Millisecond))
			// The kubelet set its kernel defaults on the host; down puts
			// back what was there.
			if after := kubeletSysctls(t); !maps.Equal(before, after) {
				t.Errorf("kernel settings after down %v, before up %v", after, before)
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Errorf("remove %s: %v", dir, err)
			}
		})
		run(t, 60*time.Minute, script, "up", dir)
	}
	env := readEnv(t, filepath.Join(dir, "env"))
	c := &cluster{dir: dir, node: env["FERRY_NODE_NAME"], apiPort: env["FERRY_KUBE_PORT"],
		kconfig: env["FERRY_KUBECONFIG"], script: script}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kconfig)
	if err != nil {
		t.Fatal(err)
	}
	c.cs = kubernetes.NewForConfigOrDie(cfg)
	return c
}

// readEnv reads the `export K=V` lines hack/node.sh writes.
func readEnv(t testing.TB, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (is the node up? hack/node.sh up DIR)", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			env[k] = v
		}
	}
	return env
}

// waitFor polls cond every 250 ms until it returns true or timeout passes;
// then it fails the test with what cond last said.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// namespace creates a namespace and waits for its default ServiceAccount
// (made by kube-controller-manager; pods are refused without it).
func (c *cluster) namespace(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "default ServiceAccount in "+name, time.Minute, func() (bool, string) {
		_, err := c.cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
}

// podLogs is what the kubelet wrote for the pod's container (all its files,
// oldest first, gzipped ones skipped), read on the host: the API server
// cannot reach the kubelet here (it listens on 127.0.0.1, the node's address
// is the host's).
func podLogs(p *corev1.Pod, container string) string {
	dir := filepath.Join("/var/log/pods", p.Namespace+"_"+p.Name+"_"+string(p.UID), container)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, ".gz") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "--- %s\n%s", f, data)
	}
	return b.String()
}

// podReady says whether the pod's Ready condition is true.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
