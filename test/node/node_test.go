package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

const (
	loggerImage = "localhost/ferry-node-logger:1"
	workloadNS  = "shop"
	ferryNS     = "ferry-system"
)

// logger is one container running the logger image and what it is told to write.
type logger struct {
	container string
	lines     int
	rate      int
	longEvery int
	exit      bool
}

func (l logger) spec() corev1.Container {
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "TAG", Value: "$(POD_NAME)." + l.container},
		{Name: "LINES", Value: strconv.Itoa(l.lines)},
		{Name: "RATE", Value: strconv.Itoa(l.rate)},
		{Name: "LONG_EVERY", Value: strconv.Itoa(l.longEvery)},
		{Name: "LONG_BYTES", Value: "40000"},
	}
	if l.exit {
		env = append(env, corev1.EnvVar{Name: "EXIT", Value: "1"})
	}
	return corev1.Container{Name: l.container, Image: loggerImage, ImagePullPolicy: corev1.PullNever, Env: env,
		SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptrTo(false), ReadOnlyRootFilesystem: ptrTo(true),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}
}

func podSpec(restart corev1.RestartPolicy, ls ...logger) corev1.PodSpec {
	spec := corev1.PodSpec{RestartPolicy: restart, TerminationGracePeriodSeconds: ptrTo[int64](10),
		EnableServiceLinks: ptrTo(false), AutomountServiceAccountToken: ptrTo(false)}
	for _, l := range ls {
		spec.Containers = append(spec.Containers, l.spec())
	}
	return spec
}

// The workloads. web's app writes about 280 KB/s for 30 s (800 lines/s, a
// 40 KB line every 200th): the kubelet, which checks every 10 s, rotates its
// log about three times and gzips the older rotated files while ferry
// follows it.
var (
	webApp     = logger{container: "app", lines: 24000, rate: 800, longEvery: 200}
	webSidecar = logger{container: "sidecar", lines: 3000, rate: 100}
	batchMain  = logger{container: "main", lines: 6000, rate: 1000, longEvery: 50, exit: true}
	// Rate-limited (policy drop): chatty by its pod's ferry.dev/rate-limit
	// annotation (100 lines/s), loud by a selector of the chart's values
	// matching its label tier=loud (50 lines/s); each writes 5x its limit
	// for 6 s.
	chattyMain = logger{container: "main", lines: 3000, rate: 500, exit: true}
	loudMain   = logger{container: "main", lines: 1500, rate: 250, exit: true}
	quietMain  = logger{container: "main", lines: 500, rate: 100}
)

func deployment(name string, labels, podAnnotations map[string]string, ls ...logger) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workloadNS, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptrTo[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: podAnnotations},
				Spec:       podSpec(corev1.RestartPolicyAlways, ls...),
			},
		},
	}
}

// job runs one logger to its end, once.
func job(name string, labels, podAnnotations map[string]string, l logger) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workloadNS},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptrTo[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: podAnnotations},
				Spec:       podSpec(corev1.RestartPolicyNever, l),
			},
		},
	}
}

// nodeTest is the state shared by the steps of TestNode.
type nodeTest struct {
	c        *cluster
	broker   *e2eharness.Broker
	cons     *consumer
	helm     string
	image    string
	httpPort int
	values   string // the generated values file
}

// TestNode installs the chart on a real node and checks, with an independent
// consumer, every line the workloads wrote: none lost, none doubled, in
// order, with the right pod metadata, nothing from the excluded pod, and
// rotated and gzipped files read to the end.
func TestNode(t *testing.T) {
	requireNode(t)
	start := time.Now()
	nt := &nodeTest{}
	nt.c = startCluster(t)
	t.Logf("node up: %s", time.Since(start).Round(time.Second))

	nt.broker = e2eharness.NewBroker(t)
	nt.cons = startConsumer(t, nt.broker.Addr(), nt.c.node)
	nt.helm = strings.TrimSpace(run(t, 30*time.Minute, nt.c.script, "helm"))
	run(t, 10*time.Minute, nt.c.script, "load", nt.c.dir, loggerImage, "./test/node/images/logger")
	out := run(t, 20*time.Minute, nt.c.script, "load-ferry", nt.c.dir)
	nt.image = strings.TrimSpace(tail(out, 1))
	t.Logf("images imported: %s", time.Since(start).Round(time.Second))

	nt.install(t)
	t.Cleanup(func() {
		if t.Failed() {
			nt.dumpAgent(t)
		}
	})
	ferryPod := nt.waitAgent(t, "")
	t.Logf("agent ready (%s): %s", ferryPod.Name, time.Since(start).Round(time.Second))

	ctx := context.Background()
	nt.c.namespace(t, workloadNS)
	webLabels := map[string]string{"app": "web", "tier": "front"}
	web := deployment("web", webLabels, map[string]string{"app.kubernetes.io/part-of": "shop", "example.com/not-shipped": "x"},
		webApp, webSidecar)
	quiet := deployment("quiet", map[string]string{"app": "quiet"}, map[string]string{"ferry.dev/exclude": "true"}, quietMain)
	batch := job("batch", map[string]string{"app": "batch"}, nil, batchMain)
	chatty := job("chatty", map[string]string{"app": "chatty"}, map[string]string{"ferry.dev/rate-limit": "lines=100,policy=drop"}, chattyMain)
	loud := job("loud", map[string]string{"app": "loud", "tier": "loud"}, nil, loudMain)
	for _, d := range []*appsv1.Deployment{web, quiet} {
		if _, err := nt.c.cs.AppsV1().Deployments(workloadNS).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, j := range []*batchv1.Job{batch, chatty, loud} {
		if _, err := nt.c.cs.BatchV1().Jobs(workloadNS).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	webPod := nt.runningPod(t, "app=web")
	quietPod := nt.runningPod(t, "app=quiet")
	batchPod := nt.runningPod(t, "app=batch")
	chattyPod := nt.runningPod(t, "app=chatty")
	loudPod := nt.runningPod(t, "app=loud")

	// Rotation is what this test is about: watch web's app directory until
	// the kubelet has gzipped a rotated file.
	rot := watchRotation(t, webPod, "app")

	nt.waitEnd(t, webPod, webApp, 4*time.Minute)
	nt.waitEnd(t, webPod, webSidecar, time.Minute)
	nt.waitEnd(t, batchPod, batchMain, time.Minute)
	if r := rot.stop(); !r.gzipped || !r.rotated {
		t.Errorf("the kubelet did not rotate and gzip %s/app while it wrote (saw rotated %v, gzipped %v; files: %v)",
			webPod.Name, r.rotated, r.gzipped, r.names)
	} else {
		t.Logf("kubelet rotated %s/app: files seen %v", webPod.Name, r.names)
	}

	nt.checkStream(t, webPod, webApp, 0, owner{"Deployment", "web"}, map[string]string{"app.kubernetes.io/part-of": "shop"})
	nt.checkStream(t, webPod, webSidecar, 0, owner{"Deployment", "web"}, map[string]string{"app.kubernetes.io/part-of": "shop"})
	nt.checkStream(t, batchPod, batchMain, 0, owner{"Job", "batch"}, nil)
	chattyDropped := nt.checkDropped(t, chattyPod, chattyMain, "lines=100,policy=drop", 100,
		map[string]string{"ferry.dev/rate-limit": "lines=100,policy=drop"})
	loudDropped := nt.checkDropped(t, loudPod, loudMain, "lines=50,policy=drop", 50, nil)
	if code, body, err := nt.get("/metrics"); code != http.StatusOK {
		t.Errorf("/metrics: %d %v", code, err)
	} else if got := e2eharness.ParseMetrics(body).Sum("ferry_tail_lines_dropped_total", `reason="rate_limit"`); got != float64(chattyDropped+loudDropped) {
		t.Errorf("ferry_tail_lines_dropped_total{reason=\"rate_limit\"} = %v, the summary records say %d + %d", got, chattyDropped, loudDropped)
	}

	// The excluded pod wrote (its file is on the node) but nothing of it was shipped.
	if !strings.Contains(podLogs(quietPod, "main"), "ferry-end tag="+quietPod.Name+".main") {
		t.Errorf("the excluded pod %s did not finish writing: %.300s", quietPod.Name, podLogs(quietPod, "main"))
	}
	if s := nt.cons.snapshot(quietPod.Name + ".main"); s.records > 0 {
		t.Errorf("%d records of the excluded pod %s were shipped", s.records, quietPod.Name)
	}

	nt.checkEndpoints(t)
	t.Logf("base scenario done: %s", time.Since(start).Round(time.Second))
	if t.Failed() {
		return
	}

	// A deleted pod: its last line (written at SIGTERM) still arrives, with
	// the pod's metadata. The Deployment replaces it: web2.
	t.Run("pod deleted", func(t *testing.T) {
		web2 := nt.replacePod(t, webPod, "app=web")
		term := nt.waitTerm(t, webPod, webApp)
		if term.term != webApp.lines {
			t.Errorf("ferry-term of %s says %d lines, want %d", webPod.Name, term.term, webApp.lines)
		}
		k := term.last.Kubernetes
		if k.PodUID != string(webPod.UID) || k.Owner.Name != "web" || k.Labels["tier"] != "front" || k.ContainerID == "" {
			t.Errorf("the last line of the deleted pod %s is not enriched: %+v", webPod.Name, k)
		}
		webPod = web2
	})
	if t.Failed() {
		return
	}
	t.Logf("pod deleted done: %s", time.Since(start).Round(time.Second))

	// The chart's default, configUpdate=reload: helm upgrade changes the
	// config while web2 writes; the kubelet updates the mounted ConfigMap (a
	// ..data swap) and the same agent pod reloads it behind a drain. Its
	// lines are checked, with the roll's, after the next scenario.
	t.Run("config reload", func(t *testing.T) {
		nt.waitLines(t, webPod, webApp, webApp.lines/10)
		run(t, 5*time.Minute, nt.helm, "upgrade", "ferry", "charts/ferry", "--kubeconfig", nt.c.kconfig,
			"--namespace", ferryNS, "-f", "test/node/testdata/sandbox-values.yaml", "-f", nt.values,
			"--set", "config.hostmetrics.interval=4s")
		waitFor(t, "the agent to reload the changed ConfigMap", 3*time.Minute, func() (bool, string) {
			code, body, err := nt.get("/metrics")
			if code != http.StatusOK {
				return false, fmt.Sprintf("/metrics: %d %v", code, err)
			}
			m := e2eharness.ParseMetrics(body)
			applied := m.Sum("ferry_config_reload_total", `result="applied"`)
			return applied >= 1, fmt.Sprintf("reloads applied %v, invalid %v", applied, m.Sum("ferry_config_reload_total", `result="invalid"`))
		})
		if p := nt.waitAgent(t, ""); p.Name != ferryPod.Name {
			t.Errorf("the agent pod changed from %s to %s: reload must not roll the pod", ferryPod.Name, p.Name)
		}
	})
	if t.Failed() {
		return
	}
	t.Logf("config reload done: %s", time.Since(start).Round(time.Second))

	// helm upgrade with a config change while web2 writes, switching to
	// configUpdate=rollout (the chart's default, reload, applies a config
	// change without a new pod): the pod template changes, so the DaemonSet
	// rolls its pod (SIGTERM, flush, commit; the new pod resumes from the
	// offsets), as any upgrade of the image or the chart does.
	// Nothing may be lost or doubled, also of the files the kubelet rotated
	// and gzipped meanwhile.
	t.Run("helm upgrade", func(t *testing.T) {
		rot := watchRotation(t, webPod, "app")
		nt.waitLines(t, webPod, webApp, webApp.lines/5)
		run(t, 5*time.Minute, nt.helm, "upgrade", "ferry", "charts/ferry", "--kubeconfig", nt.c.kconfig,
			"--namespace", ferryNS, "-f", "test/node/testdata/sandbox-values.yaml", "-f", nt.values,
			"--set", "config.hostmetrics.interval=3s", "--set", "configUpdate=rollout")
		ferryPod = nt.waitAgent(t, ferryPod.Name)
		t.Logf("new agent pod %s ready", ferryPod.Name)
		nt.waitEnd(t, webPod, webApp, 4*time.Minute)
		nt.waitEnd(t, webPod, webSidecar, time.Minute)
		nt.checkStream(t, webPod, webApp, 0, owner{"Deployment", "web"}, map[string]string{"app.kubernetes.io/part-of": "shop"})
		nt.checkStream(t, webPod, webSidecar, 0, owner{"Deployment", "web"}, map[string]string{"app.kubernetes.io/part-of": "shop"})
		r := rot.stop()
		t.Logf("kubelet rotated %s/app during the upgrade: files seen %v", webPod.Name, r.names)
		if !r.rotated {
			t.Errorf("%s/app was not rotated during the upgrade (files %v)", webPod.Name, r.names)
		}
	})
	if t.Failed() {
		return
	}
	t.Logf("helm upgrade done: %s", time.Since(start).Round(time.Second))

	// The agent's container is SIGKILLed while web3 writes: the kubelet
	// restarts it; nothing is lost, duplicates stay within what was
	// acknowledged since the last commit (commit_interval 1s: allow 2 s of
	// each logger's lines).
	t.Run("agent killed", func(t *testing.T) {
		web3 := nt.replacePod(t, webPod, "app=web")
		nt.waitLines(t, web3, webApp, webApp.lines/4)
		id := ""
		for _, cs := range ferryPod.Status.ContainerStatuses {
			id = strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
		run(t, time.Minute, nt.c.script, "ctr", nt.c.dir, "tasks", "kill", "--signal", "SIGKILL", id)
		waitFor(t, "the agent restarted", 3*time.Minute, func() (bool, string) {
			p, err := nt.c.cs.CoreV1().Pods(ferryNS).Get(context.Background(), ferryPod.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.RestartCount > 0 && podReady(p) {
					return true, ""
				}
				return false, fmt.Sprintf("restarts %d, ready %v", cs.RestartCount, podReady(p))
			}
			return false, "no container status"
		})
		nt.waitEnd(t, web3, webApp, 4*time.Minute)
		nt.waitEnd(t, web3, webSidecar, time.Minute)
		nt.checkStream(t, web3, webApp, 2*webApp.rate, owner{"Deployment", "web"}, map[string]string{"app.kubernetes.io/part-of": "shop"})
		nt.checkStream(t, web3, webSidecar, 2*webSidecar.rate, owner{"Deployment", "web"}, map[string]string{"app.kubernetes.io/part-of": "shop"})
		s := nt.cons.snapshot(web3.Name + ".app")
		t.Logf("after SIGKILL: %d records for %d lines of %s/app", len(s.seqs), webApp.lines, web3.Name)
		for _, p := range []string{"/healthz", "/readyz"} {
			if code, body, err := nt.get(p); code != http.StatusOK {
				t.Errorf("%s after the restart: %d %.200s %v", p, code, body, err)
			}
		}
	})
	t.Logf("agent killed done: %s", time.Since(start).Round(time.Second))
}

// replacePod deletes the pod (gracefully) and returns the one its owner
// creates instead.
func (nt *nodeTest) replacePod(t *testing.T, old *corev1.Pod, selector string) *corev1.Pod {
	t.Helper()
	if err := nt.c.cs.CoreV1().Pods(old.Namespace).Delete(context.Background(), old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	waitFor(t, "a pod replacing "+old.Name, 2*time.Minute, func() (bool, string) {
		pods, err := nt.c.cs.CoreV1().Pods(workloadNS).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Name != old.Name && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				pod = p
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d pods", len(pods.Items))
	})
	return pod
}

// waitTerm waits for the logger's ferry-term line (written at SIGTERM).
func (nt *nodeTest) waitTerm(t *testing.T, p *corev1.Pod, l logger) stream {
	t.Helper()
	tag := p.Name + "." + l.container
	var s stream
	waitFor(t, "the ferry-term line of "+tag, 2*time.Minute, func() (bool, string) {
		s = nt.cons.snapshot(tag)
		return s.term >= 0, fmt.Sprintf("%d records", s.records)
	})
	return s
}

// waitLines waits until the consumer has n lines of the logger.
func (nt *nodeTest) waitLines(t *testing.T, p *corev1.Pod, l logger, n int) {
	t.Helper()
	tag := p.Name + "." + l.container
	waitFor(t, fmt.Sprintf("%d lines of %s", n, tag), 2*time.Minute, func() (bool, string) {
		s := nt.cons.snapshot(tag)
		return len(s.seqs) >= n, fmt.Sprintf("%d lines", len(s.seqs))
	})
}

type owner struct{ kind, name string }

func ptrTo[T any](v T) *T { return &v }

// install runs helm install with the sandbox values plus what only the test knows.
func (nt *nodeTest) install(t *testing.T) {
	t.Helper()
	nt.httpPort = e2eharness.FreePort(t)
	repo, tag, _ := strings.Cut(nt.image, ":")
	nt.values = filepath.Join(t.TempDir(), "values.yaml")
	values := fmt.Sprintf(`image:
  repository: %s
  tag: %q
hostPaths:
  stateDir: %s
extraEnv:
  - {name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}
  - {name: KUBERNETES_SERVICE_PORT, value: %q}
config:
  sink:
    kafka:
      brokers: [%q]
  http:
    listen: ":%d"
  logs:
    rate_limit:
      summary_interval: 2s
      selectors:
        - match_labels: {tier: loud}
          limit: {lines_per_second: 50, policy: drop}
`, repo, tag, filepath.Join(nt.c.dir, "ferry-state"), nt.c.apiPort, nt.broker.Addr(), nt.httpPort)
	if err := os.WriteFile(nt.values, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, 5*time.Minute, nt.helm, "install", "ferry", "charts/ferry", "--kubeconfig", nt.c.kconfig,
		"--namespace", ferryNS, "--create-namespace",
		"-f", "test/node/testdata/sandbox-values.yaml", "-f", nt.values)
}

// waitAgent waits for a Ready ferry pod other than the one named not.
func (nt *nodeTest) waitAgent(t *testing.T, not string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(t, "a ready ferry pod", 3*time.Minute, func() (bool, string) {
		pods, err := nt.c.cs.CoreV1().Pods(ferryNS).List(context.Background(),
			metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=ferry"})
		if err != nil {
			return false, err.Error()
		}
		var states []string
		for i := range pods.Items {
			p := &pods.Items[i]
			states = append(states, fmt.Sprintf("%s %s ready=%v", p.Name, p.Status.Phase, podReady(p)))
			if p.Name != not && p.DeletionTimestamp == nil && podReady(p) {
				pod = p
				return true, ""
			}
		}
		return false, fmt.Sprint(states)
	})
	return pod
}

// runningPod waits for the pod with the label selector to run on the node.
func (nt *nodeTest) runningPod(t *testing.T, selector string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(t, "a running pod "+selector, 2*time.Minute, func() (bool, string) {
		pods, err := nt.c.cs.CoreV1().Pods(workloadNS).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		var states []string
		for i := range pods.Items {
			p := &pods.Items[i]
			states = append(states, fmt.Sprintf("%s %s on %q", p.Name, p.Status.Phase, p.Spec.NodeName))
			if p.DeletionTimestamp == nil && (p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded) {
				pod = p
				return true, ""
			}
		}
		return false, fmt.Sprint(states)
	})
	return pod
}

// waitEnd waits until the consumer has the logger's end line.
func (nt *nodeTest) waitEnd(t *testing.T, p *corev1.Pod, l logger, timeout time.Duration) {
	t.Helper()
	tag := p.Name + "." + l.container
	waitFor(t, "the last line of "+tag, timeout, func() (bool, string) {
		s := nt.cons.snapshot(tag)
		return s.end >= 0, fmt.Sprintf("%d of %d lines consumed", len(s.seqs), l.lines)
	})
}

// checkStream checks one logger's lines and the metadata of its last record.
func (nt *nodeTest) checkStream(t *testing.T, p *corev1.Pod, l logger, maxDup int, own owner, annotations map[string]string) {
	t.Helper()
	tag := p.Name + "." + l.container
	s := nt.cons.snapshot(tag)
	if v := s.verdict(l.lines, maxDup); v != "" {
		t.Errorf("%s: %s(%d records consumed; log on the node ends: %.2000s)", tag, v, s.records,
			tail(podLogs(p, l.container), 3))
	}
	if s.end != -1 && s.end != l.lines {
		t.Errorf("%s: ferry-end says %d lines, want %d", tag, s.end, l.lines)
	}
	// The pod as the API server has it now (container IDs are set once it runs).
	cur, err := nt.c.cs.CoreV1().Pods(p.Namespace).Get(context.Background(), p.Name, metav1.GetOptions{})
	if err != nil {
		cur = p // deleted since: what we knew
	}
	var id, image string
	for _, cs := range cur.Status.ContainerStatuses {
		if cs.Name == l.container {
			id, image = cs.ContainerID, cs.Image
		}
	}
	k := s.last.Kubernetes
	want := []struct{ what, got, want string }{
		{"namespace", k.Namespace, p.Namespace},
		{"pod", k.Pod, p.Name},
		{"pod_uid", k.PodUID, string(p.UID)},
		{"container", k.Container, l.container},
		{"container_id", k.ContainerID, id},
		{"image", k.Image, image},
		{"node", k.Node, nt.c.node},
		{"owner.kind", k.Owner.Kind, own.kind},
		{"owner.name", k.Owner.Name, own.name},
		{"labels", fmt.Sprint(k.Labels), fmt.Sprint(p.Labels)},
		{"annotations", fmt.Sprint(k.Annotations), fmt.Sprint(annotationsOrNil(annotations))},
	}
	for _, w := range want {
		if w.got != w.want || w.want == "" {
			t.Errorf("%s: kubernetes.%s = %q, want %q", tag, w.what, w.got, w.want)
		}
	}
	if !strings.HasPrefix(s.last.File, "/var/log/pods/"+p.Namespace+"_"+p.Name+"_") {
		t.Errorf("%s: file %q is not under the pod's log directory", tag, s.last.File)
	}
}

// checkDropped checks a logger limited to perSecond lines/s with policy
// drop: every line it wrote (its end line too) was shipped or summarised
// as dropped, none twice or out of order; the limit held; the summary
// records name the limit and carry the pod's metadata. It returns the
// lines the summaries add up to.
func (nt *nodeTest) checkDropped(t *testing.T, p *corev1.Pod, l logger, limit string, perSecond int, annotations map[string]string) int {
	t.Helper()
	tag := p.Name + "." + l.container
	written := l.lines + 1 // and the end line
	var s stream
	waitFor(t, "every line of "+tag+" shipped or summarised as dropped", 2*time.Minute, func() (bool, string) {
		s = nt.cons.snapshot(tag)
		got := len(s.seqs) + s.dropped
		if s.end >= 0 {
			got++
		}
		return got == written, fmt.Sprintf("%d shipped, end line %v, %d dropped in %d summaries; %d written",
			len(s.seqs), s.end >= 0, s.dropped, s.summaries, written)
	})
	for i := 1; i < len(s.seqs); i++ {
		if s.seqs[i] <= s.seqs[i-1] {
			t.Errorf("%s: seq %d after %d: repeated or out of order", tag, s.seqs[i], s.seqs[i-1])
			break
		}
	}
	if len(s.bad) > 0 {
		t.Errorf("%s: %v", tag, s.bad)
	}
	// It wrote for lines/rate seconds: at most the burst (a second of the
	// limit) and the limit over that time, and a second more for the end
	// line and the clocks; and, before the limit applies, what it wrote
	// until its first lines were enriched and the tailer's next poll
	// (poll_interval, 1 s): two seconds of its rate.
	most := perSecond*(l.lines/l.rate+2) + 2*l.rate
	t.Logf("%s: %d of %d lines shipped, %d dropped in %d summaries (limit %s)", tag, len(s.seqs), written, s.dropped, s.summaries, s.limit)
	if len(s.seqs) > most || s.dropped == 0 {
		t.Errorf("%s: %d lines shipped (at most %d under %s), %d dropped", tag, len(s.seqs), most, limit, s.dropped)
	}
	if s.limit != limit {
		t.Errorf("%s: the summary names the limit %q, want %q", tag, s.limit, limit)
	}
	k := s.summary.Kubernetes
	if k.Namespace != p.Namespace || k.Pod != p.Name || k.PodUID != string(p.UID) || k.Container != l.container ||
		k.Node != nt.c.node || fmt.Sprint(k.Labels) != fmt.Sprint(p.Labels) || k.Owner.Kind != "Job" ||
		fmt.Sprint(k.Annotations) != fmt.Sprint(annotationsOrNil(annotations)) || s.summary.Stream != "stderr" {
		t.Errorf("%s: the summary record's metadata: stream %q, %+v", tag, s.summary.Stream, k)
	}
	return s.dropped
}

func annotationsOrNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// rotation is what watchRotation saw in a container's log directory.
type rotation struct {
	rotated, gzipped bool
	names            []string
}

type rotationWatch struct {
	mu   sync.Mutex
	r    rotation
	seen map[string]bool
	done chan struct{}
	wg   sync.WaitGroup
}

// watchRotation lists the container's log directory every 200 ms until stop.
func watchRotation(t *testing.T, p *corev1.Pod, container string) *rotationWatch {
	dir := filepath.Join("/var/log/pods", p.Namespace+"_"+p.Name+"_"+string(p.UID), container)
	w := &rotationWatch{seen: map[string]bool{}, done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			entries, _ := os.ReadDir(dir)
			w.mu.Lock()
			for _, e := range entries {
				n := e.Name()
				if !w.seen[n] {
					w.seen[n] = true
					w.r.names = append(w.r.names, n)
				}
				w.r.gzipped = w.r.gzipped || strings.HasSuffix(n, ".gz")
				w.r.rotated = w.r.rotated || strings.Contains(n, ".log.")
			}
			w.mu.Unlock()
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

func (w *rotationWatch) stop() rotation {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.r
	sort.Strings(r.names)
	return r
}

// get fetches a path of the agent's HTTP port (host network: on 127.0.0.1).
func (nt *nodeTest) get(path string) (int, string, error) {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d%s", nt.httpPort, path))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// checkEndpoints scrapes /healthz, /readyz and /metrics from the agent's pod
// and checks the counters against what the consumer saw.
func (nt *nodeTest) checkEndpoints(t *testing.T) {
	t.Helper()
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body, err := nt.get(p); code != http.StatusOK {
			t.Errorf("%s: %d %.200s %v", p, code, body, err)
		}
	}
	// Once the pipeline is quiet, every line read was sent, nothing was
	// dropped, and the broker holds exactly what ferry says it sent.
	var m e2eharness.Metrics
	var b e2eharness.Balance
	var logs int
	waitFor(t, "the agent's counters to balance with the consumer", time.Minute, func() (bool, string) {
		code, body, err := nt.get("/metrics")
		if code != http.StatusOK {
			return false, fmt.Sprintf("/metrics: %d %v", code, err)
		}
		m = e2eharness.ParseMetrics(body)
		b = e2eharness.BalanceOf(m)
		logs, _, _ = nt.cons.counts(workloadNS)
		return b.Balanced() && int(b.Sent) == logs, fmt.Sprintf("%s; consumer has %d log records", b, logs)
	})
	if b.Dropped != 0 {
		t.Errorf("the agent dropped %v log records", b.Dropped)
	}
	if v := m.Sum("ferry_tail_lost_bytes_total"); v != 0 {
		t.Errorf("ferry_tail_lost_bytes_total = %v: bytes of rotated files were deleted before they were read", v)
	}
	if v := m.Sum("ferry_enrich_excluded_files_total"); v < 1 {
		t.Errorf("ferry_enrich_excluded_files_total = %v, want at least the excluded pod's file", v)
	}
	_, _, metrics := nt.cons.counts(workloadNS)
	sent := m.Sum("ferry_ship_records_sent_total", `record="metric"`)
	if metrics == 0 || sent == 0 {
		t.Errorf("host metrics: consumer has %d samples of node %s, agent says it sent %v", metrics, nt.c.node, sent)
	}
	nt.cons.mu.Lock()
	cpu := nt.cons.metricNms["node_cpu_seconds_total"]
	bad := append([]string(nil), nt.cons.undecoded...)
	nt.cons.mu.Unlock()
	if !cpu {
		t.Errorf("no node_cpu_seconds_total sample of node %s", nt.c.node)
	}
	if len(bad) > 0 {
		t.Errorf("%d records are not JSON, first: %s", len(bad), bad[0])
	}
}

// dumpAgent prints the agent's log from the node (for a failing test).
func (nt *nodeTest) dumpAgent(t *testing.T) {
	pods, err := nt.c.cs.CoreV1().Pods(ferryNS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Logf("list ferry pods: %v", err)
		return
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		t.Logf("agent pod %s (%s):\n%s", p.Name, p.Status.Phase, tail(podLogs(p, "ferry"), 80))
	}
}
