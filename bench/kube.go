package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferry-dev/ferry/pkg/enrich"
)

// benchNode is node_name in the agent's config: the pods the benchmark
// creates are bound to it.
const benchNode = "bench"

// kubeCluster is a real kube-apiserver and etcd started by
// hack/kube-apiserver.sh, and an admin client to it.
type kubeCluster struct {
	script, dir string
	kubeconfig  string // admin kubeconfig, given to the agent
	client      kubernetes.Interface
}

// startKube starts kube-apiserver and etcd with their state in dir (its
// previous content is removed) and connects to it. The script's progress
// (and, on a fresh machine, the build of both binaries) goes to log.
func startKube(ctx context.Context, root, dir string, log io.Writer) (*kubeCluster, error) {
	k := &kubeCluster{script: filepath.Join(root, "hack", "kube-apiserver.sh"), dir: dir}
	// A run killed before its stop may have left both running on dir.
	if err := k.stop(); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("kube-apiserver state: %w", err)
	}
	cmd := exec.CommandContext(ctx, k.script, "start", dir)
	cmd.Dir = root
	cmd.Stderr = log
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%s start %s: %w", k.script, dir, err), k.stop())
	}
	k.kubeconfig = parseExports(out)["FERRY_KUBECONFIG"]
	if k.kubeconfig == "" {
		return nil, errors.Join(fmt.Errorf("%s start %s: no FERRY_KUBECONFIG in its output %q", k.script, dir, out), k.stop())
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", k.kubeconfig)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("kubeconfig %s: %w", k.kubeconfig, err), k.stop())
	}
	cfg.UserAgent = "ferry-bench"
	cfg.QPS, cfg.Burst = 200, 400 // setting up: a few hundred requests in a burst
	if k.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, errors.Join(fmt.Errorf("kubernetes client: %w", err), k.stop())
	}
	return k, nil
}

// stop stops kube-apiserver and etcd (nothing to do when they do not run).
func (k *kubeCluster) stop() error {
	if out, err := exec.Command(k.script, "stop", k.dir).CombinedOutput(); err != nil {
		return fmt.Errorf("%s stop %s: %w\n%s", k.script, k.dir, err, out)
	}
	return nil
}

// parseExports reads the `export NAME=value` lines the script prints.
func parseExports(out []byte) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// podRef names a container's log directory: the pod it belongs to and the
// container's name.
type podRef struct {
	Namespace, Pod, Container string
}

// deploymentOf splits a pod name made by a Deployment,
// <deployment>-<pod-template-hash>-<suffix>, into the Deployment's name and
// the hash. Other names are taken whole, with a made-up hash.
func deploymentOf(pod string) (deploy, hash string) {
	parts := strings.Split(pod, "-")
	if len(parts) < 3 {
		return pod, "5d8f7c9b6"
	}
	return strings.Join(parts[:len(parts)-2], "-"), parts[len(parts)-2]
}

// benchPod is the pod a container's logs belong to, as a Deployment would
// have it made: bound to the benchmark's node, labelled and annotated the
// usual way, owned by the Deployment's ReplicaSet, with one container of
// ref's name.
func benchPod(ref podRef) *corev1.Pod {
	deploy, hash := deploymentOf(ref.Pod)
	image := fmt.Sprintf("registry.example.com/%s/%s:1.8.3", ref.Namespace, deploy)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ref.Pod,
			Namespace: ref.Namespace,
			Labels: map[string]string{
				"app.kubernetes.io/name":      deploy,
				"app.kubernetes.io/instance":  deploy + "-" + ref.Namespace,
				"app.kubernetes.io/version":   "1.8.3",
				"app.kubernetes.io/component": ref.Container,
				"app.kubernetes.io/part-of":   ref.Namespace,
				"pod-template-hash":           hash,
			},
			Annotations: map[string]string{
				"kubectl.kubernetes.io/default-container": ref.Container,
				"prometheus.io/scrape":                    "true",
				"app.kubernetes.io/managed-by":            "Helm",
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1",
				Kind:       "ReplicaSet",
				Name:       deploy + "-" + hash,
				UID:        types.UID(madeUpID("rs", ref.Namespace, deploy+"-"+hash)[:36]),
				Controller: new(true),
			}},
		},
		Spec: corev1.PodSpec{
			NodeName:                     benchNode,
			AutomountServiceAccountToken: new(false),
			Containers:                   []corev1.Container{{Name: ref.Container, Image: image}},
		},
	}
}

// madeUpID is a stable 64-hex-digit id of parts (container ids, image
// digests); its first 36 characters serve as a made-up UID.
func madeUpID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "/")))
	s := hex.EncodeToString(h[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// runningStatus is the status a kubelet would have reported for p once its
// container started (no kubelet runs here): phase Running, the container's
// id and image digest.
func runningStatus(p *corev1.Pod) corev1.PodStatus {
	started := metav1.NewTime(time.Now().Truncate(time.Second))
	st := corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started}
	for _, c := range p.Spec.Containers {
		id := strings.ReplaceAll(madeUpID("container", p.Namespace, p.Name, c.Name), "-", "")
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     imageRepo(c.Image) + "@sha256:" + strings.ReplaceAll(madeUpID("image", c.Image), "-", ""),
			ContainerID: "containerd://" + id,
			Ready:       true,
			Started:     new(true),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
		})
	}
	return st
}

// imageRepo is image without its tag.
func imageRepo(image string) string {
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		return image[:i]
	}
	return image
}

// createPods creates the namespaces of refs (with the default
// ServiceAccount no controller manager makes here) and one running pod per
// ref, and returns the UIDs the server assigned, by "<namespace>/<pod>".
func createPods(ctx context.Context, c kubernetes.Interface, refs []podRef) (map[string]string, error) {
	seen := map[string]bool{}
	for _, r := range refs {
		if seen[r.Namespace] {
			continue
		}
		seen[r.Namespace] = true
		if err := ensureNamespace(ctx, c, r.Namespace); err != nil {
			return nil, err
		}
	}
	var mu sync.Mutex
	uids := make(map[string]string, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, r := range refs {
		g.Go(func() error {
			uid, err := createPod(gctx, c, r)
			if err != nil {
				return err
			}
			mu.Lock()
			uids[r.Namespace+"/"+r.Pod] = uid
			mu.Unlock()
			return nil
		})
	}
	return uids, g.Wait()
}

// ensureNamespace creates ns and its default ServiceAccount unless they
// exist.
func ensureNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/default: %w", ns, err)
	}
	return nil
}

// createPod creates ref's pod, reports it running, and returns its UID.
func createPod(ctx context.Context, c kubernetes.Interface, ref podRef) (string, error) {
	pods := c.CoreV1().Pods(ref.Namespace)
	p, err := pods.Create(ctx, benchPod(ref), metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create pod %s/%s: %w", ref.Namespace, ref.Pod, err)
	}
	p.Status = runningStatus(p)
	if p, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return "", fmt.Errorf("pod %s/%s status: %w", ref.Namespace, ref.Pod, err)
	}
	if p.UID == "" {
		return "", fmt.Errorf("pod %s/%s: the server assigned no UID", ref.Namespace, ref.Pod)
	}
	return string(p.UID), nil
}

// deletePods deletes the pods of refs at once (grace period 0: no kubelet
// runs to finish a graceful deletion).
func deletePods(ctx context.Context, c kubernetes.Interface, refs []podRef) error {
	var errs []error
	for _, r := range refs {
		err := c.CoreV1().Pods(r.Namespace).Delete(ctx, r.Pod, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", r.Namespace, r.Pod, err))
		}
	}
	return errors.Join(errs...)
}

// corpusPods returns the pod and container of each of the corpus's files,
// in the order of c.Paths.
func corpusPods(c *Corpus) ([]podRef, error) {
	refs := make([]podRef, len(c.Paths))
	for i, p := range c.Paths {
		ns, pod, _, container, ok := enrich.ParsePath(filepath.Join(c.Dir, p))
		if !ok {
			return nil, fmt.Errorf("corpus file %s: not a kubelet pod log path", p)
		}
		refs[i] = podRef{Namespace: ns, Pod: pod, Container: container}
	}
	return refs, nil
}

// linkCorpus lays out, under dst (its previous content removed), the
// corpus's files under directories named with the UIDs of their pods,
// <ns>_<pod>_<uid>/<container>/0.log, as copies of the corpus's files
// (clones sharing their blocks where the file system can, FICLONE), and
// returns the include glob of the tree. Not links: the agent refuses a
// symlink below its include root and a file with a second hard link.
func linkCorpus(c *Corpus, refs []podRef, uids map[string]string, dst string) (string, error) {
	if err := os.RemoveAll(dst); err != nil {
		return "", fmt.Errorf("link tree: %w", err)
	}
	for i, p := range c.Paths {
		r := refs[i]
		uid := uids[r.Namespace+"/"+r.Pod]
		if uid == "" {
			return "", fmt.Errorf("link tree: no UID for pod %s/%s", r.Namespace, r.Pod)
		}
		from, err := filepath.Abs(filepath.Join(c.Dir, p))
		if err != nil {
			return "", err
		}
		to := filepath.Join(dst, r.Namespace+"_"+r.Pod+"_"+uid, r.Container, filepath.Base(p))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return "", fmt.Errorf("link tree: %w", err)
		}
		if err := cloneFile(from, to); err != nil {
			return "", fmt.Errorf("link tree: %w", err)
		}
	}
	return filepath.Join(dst, "*", "*", "*.log"), nil
}

// cloneFile makes to a copy of from: a clone sharing its blocks where the
// file system supports it, else a byte copy.
func cloneFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())) != nil {
		_, err = io.Copy(dst, src)
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}

// minEnrichedShare is the share of the lines an enriched run must have
// shipped with their pod's metadata (in practice every line is).
const minEnrichedShare = 0.99

// enrichment is what the agent's metrics say about its enrichment.
type enrichment struct {
	Read     float64 // lines read (ferry_tail_lines_read_total)
	Misses   float64 // shipped with only their path's metadata (ferry_enrich_misses_total)
	LivePods float64 // pods in the cache (ferry_enrich_cache_pods{state="live"})
	Synced   bool    // ferry_enrich_cache_synced
}

func enrichmentOf(sc scrape) enrichment {
	return enrichment{
		Read:     sc.sum("ferry_tail_lines_read_total"),
		Misses:   sc.sum("ferry_enrich_misses_total"),
		LivePods: sc.sum("ferry_enrich_cache_pods", "state", "live"),
		Synced:   sc.sum("ferry_enrich_cache_synced") == 1,
	}
}

// Enriched is the lines shipped with their pod's metadata.
func (e enrichment) Enriched() float64 { return e.Read - e.Misses }

func (e enrichment) String() string {
	share := 0.0
	if e.Read > 0 {
		share = 100 * e.Enriched() / e.Read
	}
	return fmt.Sprintf("enriched %.0f of %.0f lines (%.2f%%; misses %.0f), %.0f pods in the agent's cache",
		e.Enriched(), e.Read, share, e.Misses, e.LivePods)
}

// check fails unless the cache synced with every one of the pods created
// and nearly every line read was enriched.
func (e enrichment) check(pods int) error {
	switch {
	case !e.Synced:
		return fmt.Errorf("enrichment on, but the agent's pod cache never synced (%s)", e)
	case e.LivePods < float64(pods):
		return fmt.Errorf("enrichment on, but the agent's cache has %.0f of the %d pods created (%s)", e.LivePods, pods, e)
	case e.Read == 0 || e.Enriched() < minEnrichedShare*e.Read:
		return fmt.Errorf("enrichment on, but lines were not enriched with pod metadata: %s", e)
	}
	return nil
}

// waitEnrichSynced waits until the agent's pod cache synced and holds at
// least pods pods.
func (r *agentRun) waitEnrichSynced(ctx context.Context, pods int, timeout time.Duration) error {
	return r.poll(ctx, timeout, 50*time.Millisecond, func() (bool, error) {
		sc, err := scrapeMetrics(ctx, r.addr)
		if err != nil {
			return false, fmt.Errorf("agent's /metrics after %s: %w", timeout, err)
		}
		e := enrichmentOf(sc)
		if e.Synced && e.LivePods >= float64(pods) {
			return true, nil
		}
		return false, fmt.Errorf("agent's pod cache not synced with %d pods after %s: %s\n%s", pods, timeout, e, r.logTail())
	})
}

// enrichCorpus creates a pod for each of the corpus's files in kube and
// links the corpus under dst with their UIDs. The refs it returns name the
// pods to delete afterwards (also those created before an error).
func enrichCorpus(ctx context.Context, kube *kubeCluster, c *Corpus, dst string) (*enrichOn, []podRef, error) {
	refs, err := corpusPods(c)
	if err != nil {
		return nil, nil, err
	}
	uids, err := createPods(ctx, kube.client, refs)
	if err != nil {
		return nil, refs, err
	}
	include, err := linkCorpus(c, refs, uids, dst)
	if err != nil {
		return nil, refs, err
	}
	return &enrichOn{kubeconfig: kube.kubeconfig, include: include, pods: len(refs)}, refs, nil
}

// deletePodsAfter deletes the pods of refs when a run ends, interrupted
// too (within 30 s; the API server is stopped anyway at the end).
func (k *kubeCluster) deletePodsAfter(ctx context.Context, refs []podRef) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = deletePods(ctx, k.client, refs)
}
