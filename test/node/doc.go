// Package node runs ferry on a real Kubernetes node: hack/node.sh brings up
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd
// with runc and a kubelet on this machine; the ferry image (hack/image.sh) is
// imported into containerd and charts/ferry is installed with helm; workload
// pods write numbered lines that the kubelet rotates and gzips; an
// independent Kafka client reads what ferry shipped to a Kafka-protocol
// broker (kfake) on the host and checks every line, its order and its pod
// metadata. See README.md.
//
// The tests skip unless FERRY_NODE=1 (they need root and several minutes).
package node
