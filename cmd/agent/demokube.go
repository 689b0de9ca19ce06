//go:build !nodemo

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/ferry-dev/ferry/internal/simnode"
	"github.com/ferry-dev/ferry/pkg/enrich"
)

// demoKube is the demo's API server: the simulated node's pods and their
// namespaces, as a kubelet would have registered them, served to
// enrichment as they are listed (core/v1 objects only: the agent does not
// link client-go's clientset, its fake neither). Its watches stay open and
// send nothing: the demo's pods do not change.
type demoKube struct {
	pods []corev1.Pod
	nss  []corev1.Namespace
}

var _ enrich.Client = (*demoKube)(nil)

func (k *demoKube) ListPods(context.Context, metav1.ListOptions) (*corev1.PodList, error) {
	return &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}, Items: k.pods}, nil
}

func (k *demoKube) WatchPods(context.Context, metav1.ListOptions) (watch.Interface, error) {
	return watch.NewFake(), nil
}

func (k *demoKube) ListNamespaces(context.Context, metav1.ListOptions) (*corev1.NamespaceList, error) {
	return &corev1.NamespaceList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}, Items: k.nss}, nil
}

func (k *demoKube) WatchNamespaces(context.Context, metav1.ListOptions) (watch.Interface, error) {
	return watch.NewFake(), nil
}

// IsWatchListSemanticsUnSupported tells client-go's reflector to list,
// then watch (the static lists above), not to ask for a streaming list.
func (k *demoKube) IsWatchListSemanticsUnSupported() bool { return true }

// demoPod is one pod of the demo's node, named the way a Deployment's
// ReplicaSet names its pods: <deployment>-<template hash>-<suffix>.
type demoPod struct {
	namespace, name, uid string
	containers           []string
}

// newDemoKube describes the pods of node (and the checkout pod) as the API
// server would: labels, the owning ReplicaSet, images and container IDs.
func newDemoKube(nodeName string, containers []*simnode.Container, extra ...demoPod) *demoKube {
	var pods []demoPod
	byUID := map[string]int{}
	for _, c := range containers {
		i, ok := byUID[c.UID]
		if !ok {
			i = len(pods)
			byUID[c.UID] = i
			pods = append(pods, demoPod{namespace: c.Namespace, name: c.Pod, uid: c.UID})
		}
		pods[i].containers = append(pods[i].containers, c.Name)
	}
	pods = append(pods, extra...)
	k := &demoKube{}
	nss := map[string]bool{}
	for _, p := range pods {
		k.pods = append(k.pods, p.object(nodeName))
		if !nss[p.namespace] {
			nss[p.namespace] = true
			k.nss = append(k.nss, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
				Name: p.namespace, ResourceVersion: "1", Labels: map[string]string{"kubernetes.io/metadata.name": p.namespace},
			}})
		}
	}
	return k
}

func (p demoPod) object(nodeName string) corev1.Pod {
	deploy, hash := p.name, ""
	// <deployment>-<hash>-<suffix>: the ReplicaSet is <deployment>-<hash>.
	if parts := strings.Split(p.name, "-"); len(parts) >= 3 {
		deploy, hash = strings.Join(parts[:len(parts)-2], "-"), parts[len(parts)-2]
	}
	controller := true
	pod := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: p.namespace, Name: p.name, UID: types.UID(p.uid), ResourceVersion: "1",
			Labels: map[string]string{"app.kubernetes.io/name": deploy, "pod-template-hash": hash},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: deploy + "-" + hash, Controller: &controller,
			}},
		},
		Spec:   corev1.PodSpec{NodeName: nodeName},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, c := range p.containers {
		image := "registry.example.com/" + p.namespace + "/" + deploy + "-" + c + ":1.4.2"
		sum := sha256.Sum256([]byte(p.uid + "/" + c))
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: image})
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c, Image: image, ContainerID: "containerd://" + hex.EncodeToString(sum[:]), Ready: true,
		})
	}
	return pod
}
