package enrich

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferry-dev/ferry/pkg/event"
)

const (
	// mirrorAnnotation is set by kubelet on a static pod's mirror pod; its value is the config
	// hash, which is the uid kubelet uses in the static pod's log path.
	mirrorAnnotation = "kubernetes.io/config.mirror"
	// templateHashLabel is the label a Deployment's ReplicaSet adds to its pods; its value is
	// the suffix of the ReplicaSet's name.
	templateHashLabel = "pod-template-hash"
	// pathUIDIndex indexes pods by the uid their log paths carry.
	pathUIDIndex = "ferry.dev/path-uid"
)

// pathUID returns the uid kubelet writes in p's log paths: the config hash for a static pod's
// mirror pod, the pod uid otherwise.
func pathUID(p *corev1.Pod) string {
	if h := p.Annotations[mirrorAnnotation]; h != "" {
		return h
	}
	return string(p.UID)
}

// pathUIDIndexFunc is the informer index from path uid to pod.
func pathUIDIndexFunc(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	return []string{pathUID(p)}, nil
}

// keepAnnotation reports whether the transform keeps the pod annotation key: the configured
// patterns, the mirror annotation and the exclusion annotations.
func (e *Enricher) keepAnnotation(key string) bool {
	if key == mirrorAnnotation || (e.cfg.ExcludeAnnotation != "" && (key == e.cfg.ExcludeAnnotation || key == e.excludeContainersKey)) {
		return true
	}
	return e.matchAnnotation(key)
}

func (e *Enricher) matchAnnotation(key string) bool {
	for _, p := range e.cfg.Annotations {
		if globMatch(p, key) {
			return true
		}
	}
	return false
}

// transformPod is the informer's transform: it keeps only what ferry reads (name, namespace,
// uid, labels, the annotations it uses, the controlling owner, node name, and per container
// its name, image and id) and drops the rest, managedFields first. It returns a new object
// and is idempotent, as client-go requires.
func (e *Enricher) transformPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            p.Name,
			Namespace:       p.Namespace,
			UID:             p.UID,
			ResourceVersion: p.ResourceVersion,
			Labels:          p.Labels,
		},
		Spec: corev1.PodSpec{NodeName: p.Spec.NodeName},
	}
	for k, v := range p.Annotations {
		if e.keepAnnotation(k) {
			if out.Annotations == nil {
				out.Annotations = make(map[string]string)
			}
			out.Annotations[k] = v
		}
	}
	if ref := ownerRef(p.OwnerReferences); ref != nil {
		out.OwnerReferences = []metav1.OwnerReference{{Kind: ref.Kind, Name: ref.Name, Controller: ref.Controller}}
	}
	// The spec's image is kept only for containers kubelet reported no image for yet: the
	// status has the resolved one, and a Container struct is 400 bytes even when empty.
	out.Spec.Containers = slimContainers(p.Spec.Containers, p.Status.ContainerStatuses)
	out.Spec.InitContainers = slimContainers(p.Spec.InitContainers, p.Status.InitContainerStatuses)
	for _, c := range p.Spec.EphemeralContainers {
		if !hasStatusImage(p.Status.EphemeralContainerStatuses, c.Name) {
			out.Spec.EphemeralContainers = append(out.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image}})
		}
	}
	out.Status.ContainerStatuses = slimStatuses(p.Status.ContainerStatuses)
	out.Status.InitContainerStatuses = slimStatuses(p.Status.InitContainerStatuses)
	out.Status.EphemeralContainerStatuses = slimStatuses(p.Status.EphemeralContainerStatuses)
	return out, nil
}

func hasStatusImage(ss []corev1.ContainerStatus, name string) bool {
	for i := range ss {
		if ss[i].Name == name && ss[i].Image != "" {
			return true
		}
	}
	return false
}

func slimContainers(cs []corev1.Container, ss []corev1.ContainerStatus) []corev1.Container {
	var out []corev1.Container
	for _, c := range cs {
		if !hasStatusImage(ss, c.Name) {
			out = append(out, corev1.Container{Name: c.Name, Image: c.Image})
		}
	}
	return out
}

func slimStatuses(ss []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(ss) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(ss))
	for i, s := range ss {
		out[i].Name, out[i].Image, out[i].ContainerID, out[i].RestartCount = s.Name, s.Image, s.ContainerID, s.RestartCount
		if t := s.LastTerminationState.Terminated; t != nil && t.ContainerID != "" {
			out[i].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: t.ContainerID}
		}
	}
	return out
}

// transformNamespace keeps a namespace's name and labels.
func transformNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns.Name, UID: ns.UID, ResourceVersion: ns.ResourceVersion, Labels: ns.Labels,
	}}, nil
}

// ownerRef returns the controlling owner reference, or the first one when none controls.
func ownerRef(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	if len(refs) > 0 {
		return &refs[0]
	}
	return nil
}

// ownerOf derives the workload that owns p from its owner reference alone, without reading
// ReplicaSets or Jobs from the API:
//   - ReplicaSet "<d>-<hash>" whose pods carry pod-template-hash=<hash>: Deployment <d>;
//     a ReplicaSet without that label (not made by a Deployment) stays a ReplicaSet;
//   - Job "<c>-<n>" where n is a decimal of at least 8 digits (the CronJob controller names
//     jobs after the scheduled time in minutes since 1970): CronJob <c>; other Jobs stay Jobs;
//   - StatefulSet, DaemonSet, and any other kind (Node for mirror pods): as they are.
func ownerOf(p *corev1.Pod) event.Owner {
	ref := ownerRef(p.OwnerReferences)
	if ref == nil {
		return event.Owner{}
	}
	switch ref.Kind {
	case "ReplicaSet":
		if h := p.Labels[templateHashLabel]; h != "" {
			if d, ok := strings.CutSuffix(ref.Name, "-"+h); ok && d != "" {
				return event.Owner{Kind: "Deployment", Name: d}
			}
		}
	case "Job":
		if i := strings.LastIndexByte(ref.Name, '-'); i > 0 && isCronJobSuffix(ref.Name[i+1:]) {
			return event.Owner{Kind: "CronJob", Name: ref.Name[:i]}
		}
	}
	return event.Owner{Kind: ref.Kind, Name: ref.Name}
}

func isCronJobSuffix(s string) bool {
	if len(s) < 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// podInfo is what every container's Meta of one pod version shares.
type podInfo struct {
	annotations       map[string]string
	owner             event.Owner
	excludeAll        bool
	excludeContainers []string
}

func (e *Enricher) podInfo(p *corev1.Pod) podInfo {
	var info podInfo
	for k, v := range p.Annotations {
		if e.matchAnnotation(k) {
			if info.annotations == nil {
				info.annotations = make(map[string]string)
			}
			info.annotations[k] = v
		}
	}
	info.owner = ownerOf(p)
	if e.cfg.ExcludeAnnotation != "" {
		info.excludeAll = strings.EqualFold(strings.TrimSpace(p.Annotations[e.cfg.ExcludeAnnotation]), "true")
		for c := range strings.SplitSeq(p.Annotations[e.excludeContainersKey], ",") {
			if c = strings.TrimSpace(c); c != "" {
				info.excludeContainers = append(info.excludeContainers, c)
			}
		}
	}
	return info
}

// containerIdentity returns the image and container id of the named container, from its
// status when kubelet reported one, else the image from the spec. kubelet names a container's
// log file after its restart count, so attempt (the file's number, -1 if unknown) one below
// the current restart count is the previous instance: its id is the last terminated one.
func containerIdentity(p *corev1.Pod, name string, attempt int) (image, id string, previous bool) {
	for _, ss := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses, p.Status.EphemeralContainerStatuses} {
		for i := range ss {
			if ss[i].Name == name {
				image, id = ss[i].Image, ss[i].ContainerID
				if t := ss[i].LastTerminationState.Terminated; t != nil && t.ContainerID != "" &&
					attempt >= 0 && int64(attempt) == int64(ss[i].RestartCount)-1 {
					id, previous = t.ContainerID, true
				}
			}
		}
	}
	if image != "" {
		return image, id, previous
	}
	for _, cs := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for i := range cs {
			if cs[i].Name == name {
				return cs[i].Image, id, previous
			}
		}
	}
	for i := range p.Spec.EphemeralContainers {
		if p.Spec.EphemeralContainers[i].Name == name {
			return p.Spec.EphemeralContainers[i].Image, id, previous
		}
	}
	return "", id, previous
}

// logAttempt returns n of a log file named "<n>.log" (or "<n>.log.<rotation suffix>"), -1 when
// the name has no such number.
func logAttempt(path string) int {
	base := path[strings.LastIndexByte(path, '/')+1:]
	i := strings.Index(base, ".log")
	if i <= 0 || i > 9 {
		return -1
	}
	n := 0
	for _, c := range []byte(base[:i]) {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}
