#!/usr/bin/env bash
# A one-node Kubernetes cluster on this machine, from Debian packages (containerd, runc, the CNI
# plugins, buildah) and Go modules (etcd and the Kubernetes commands, built once and cached by
# hack/kube-apiserver.sh). For the node test in test/node. Needs root.
#
#   hack/node.sh up DIR               start everything with its state in DIR, wait until the node is
#                                     Ready, print `export ...` lines (also written to DIR/env)
#   hack/node.sh down DIR             stop everything and remove what the node left on the host
#   hack/node.sh load DIR IMAGE PKG   build the Go main package PKG (static) into a FROM scratch
#                                     image IMAGE and import it into the node's containerd
#   hack/node.sh load-ferry DIR       build the ferry image with hack/image.sh, import it, print its name
#   hack/node.sh ctr DIR ARGS...      ctr against the node's containerd (namespace k8s.io)
#   hack/node.sh helm                 print the path of hack/helm.sh's helm binary (built if missing)
#
# What runs, all bound to 127.0.0.1: etcd and kube-apiserver (hack/kube-apiserver.sh, state in
# DIR/kube), kube-controller-manager (the controllers a DaemonSet, a Deployment and a Job need),
# kube-scheduler, containerd with runc (config, root, state and socket under DIR/containerd) and a
# kubelet (node "ferry-node", root under DIR/kubelet) that rotates container logs at 1 MiB and
# keeps three files, so rotation and gzip happen within a test. Pods get addresses from a bridge
# (ferry-node0, 10.244.77.0/24) that this script creates and deletes.
#
# What the sandbox needs that a real node does not:
#   - containerd and the kubelet run in their own mount namespace (`unshare --mount`) where / is
#     made rshared: the host's / is a private mount, so a HostToContainer mount (the chart's
#     /host/root) would fail. Their mounts die with the namespace, which is also the cleanup.
#   - containerd's CRI plugin has restrict_oom_score_adj = true (no CAP_SYS_RESOURCE here).
#   - cgroup v1 with the cgroupfs driver (failCgroupV1: false), under the cgroup /ferry-node.
#   - no registry: images are built FROM scratch with buildah and imported with `ctr images
#     import`; pods use imagePullPolicy: Never. The pod sandbox ("pause") image is a tiny Go
#     program built the same way (test/node/images/pause).
#   - the API server listens on 127.0.0.1 only and no kube-proxy runs: a pod that talks to it
#     uses the host network and KUBERNETES_SERVICE_HOST=127.0.0.1, KUBERNETES_SERVICE_PORT=<port>
#     (FERRY_KUBE_PORT in DIR/env).
#   - container logs go to the host's /var/log/pods (the kubelet's default, which the chart
#     mounts); `down` removes the entries the node created there and in /var/log/containers.
#
# Readiness is polled from the API (bounded); nothing waits blindly.
set -euo pipefail

NODE_NAME=ferry-node
POD_CIDR=10.244.77.0/24
POD_GATEWAY=10.244.77.1
BRIDGE=ferry-node0
CGROUP_ROOT=ferry-node
PAUSE_IMAGE=localhost/ferry-pause:1

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

log() { echo "node.sh: $*" >&2; }
die() { log "$*"; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "needs root (containerd, kubelet, cgroups, a bridge)"; }

install_packages() {
  local missing=""
  command -v containerd >/dev/null || missing+=" containerd"
  command -v runc >/dev/null || missing+=" runc"
  command -v buildah >/dev/null || missing+=" buildah"
  [ -x /usr/lib/cni/bridge ] || missing+=" containernetworking-plugins"
  [ -n "$missing" ] || return 0
  command -v apt-get >/dev/null || die "missing:$missing (and no apt-get)"
  log "installing$missing"
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# api PATH: GET PATH from the API server as the admin, print the body.
api() {
  curl -fsS --max-time 10 --cacert "$kube/ca.crt" -H "Authorization: Bearer $(cat "$kube/admin.token")" \
    "$(cat "$d/apiserver.url")$1"
}

# wait_for WHAT SECONDS CMD...: run CMD until it succeeds, at most SECONDS; every daemon started
# so far must stay alive meanwhile.
wait_for() {
  local what=$1 limit=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    local p
    for p in "$d"/*.pid; do
      [ -f "$p" ] || continue
      if ! kill -0 "$(cat "$p")" 2>/dev/null; then
        local name; name=$(basename "$p" .pid)
        tail -n 40 "$d/$name.log" >&2 || true
        die "$name exited while waiting for $what; log: $d/$name.log"
      fi
    done
    [ $SECONDS -lt $deadline ] || die "$what: not after ${limit}s (logs in $d)"
    sleep 0.5
  done
}

# start NAME CMD...: start a daemon in its own session, log to DIR/NAME.log, pid in DIR/NAME.pid.
start() {
  local name=$1; shift
  setsid "$@" >"$d/$name.log" 2>&1 </dev/null &
  echo $! >"$d/$name.pid"
}

# in_ns CMD...: run CMD in the node's mount namespace.
in_ns() { nsenter --mount="/proc/$(cat "$d/mountns.pid")/ns/mnt" -- "$@"; }

ctr_() { in_ns ctr --address "$d/containerd/containerd.sock" -n k8s.io "$@"; }

node_ready() {
  api "/api/v1/nodes/$NODE_NAME" | python3 -c '
import json, sys
n = json.load(sys.stdin)
ok = any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
taints = [t for t in n["spec"].get("taints") or [] if t["key"].startswith("node.kubernetes.io/")]
sys.exit(0 if ok and not taints else 1)'
}

kubeconfig() { # kubeconfig FILE USER-LINES
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: ferry-node
  cluster: {server: "$(cat "$d/apiserver.url")", certificate-authority: "$kube/ca.crt"}
users:
- name: u
  user: $2
contexts:
- name: ferry-node
  context: {cluster: ferry-node, user: u}
current-context: ferry-node
KC
}

# build_image IMAGE BINARY: a FROM scratch image holding BINARY as /entrypoint, imported into
# the node's containerd.
build_image() {
  local image=$1 binary=$2 ctx
  ctx=$(mktemp -d)
  cp "$binary" "$ctx/entrypoint"
  printf 'FROM scratch\nCOPY entrypoint /entrypoint\nUSER 65532:65532\nENTRYPOINT ["/entrypoint"]\n' >"$ctx/Containerfile"
  buildah --storage-driver vfs bud --quiet --isolation chroot --layers=false \
    -f "$ctx/Containerfile" -t "$image" "$ctx" >/dev/null
  import_buildah "$image"
  rm -rf "$ctx"
}

# import_buildah IMAGE: push an image from buildah's store to a docker-archive, import it into the
# node's containerd, remove it from buildah's store.
import_buildah() {
  local image=$1 tar
  tar=$(mktemp -u "$d/image-XXXXXX.tar")
  rm -f "$tar"
  buildah --storage-driver vfs push --quiet "$image" "docker-archive:$tar:$image" >/dev/null
  buildah --storage-driver vfs rmi "$image" >/dev/null
  ctr_ images import --snapshotter overlayfs "$tar" >/dev/null
  rm -f "$tar"
}

# load_go IMAGE PKG: build a static Go main package into an image on the node.
load_go() {
  local image=$1 pkg=$2 out
  out=$(mktemp -d)
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/bin" "$pkg")
  build_image "$image" "$out/bin"
  rm -rf "$out"
}

# The kernel settings the kubelet changes on start (its kernel defaults).
KUBELET_SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"

# save_sysctls FILE: writes "key=value" for each of KUBELET_SYSCTLS (once: an existing FILE
# from an earlier, interrupted `up` already holds the values from before any kubelet).
save_sysctls() {
  [ ! -e "$1" ] || return 0
  local k
  for k in $KUBELET_SYSCTLS; do
    echo "$k=$(sysctl -n "$k")"
  done >"$1.tmp"
  mv "$1.tmp" "$1"
}

# restore_sysctls FILE: sets what save_sysctls wrote, then removes FILE.
restore_sysctls() {
  [ -f "$1" ] || return 0
  local kv
  while read -r kv; do
    sysctl -q -w "$kv" >/dev/null || log "could not restore $kv"
  done <"$1"
  rm -f "$1"
}

up() {
  need_root
  mkdir -p "$1"
  d=$(cd "$1" && pwd)
  kube=$d/kube
  [ ! -e "$d/env" ] || die "$d already holds a node; hack/node.sh down $d first"
  install_packages

  # Binaries: one `go build` of every Kubernetes command (cached).
  local bins apiserver_bin etcd_bin kubelet_bin kcm_bin sched_bin
  bins=$("$here/kube-apiserver.sh" build)
  { read -r apiserver_bin; read -r etcd_bin; read -r kubelet_bin; read -r kcm_bin; read -r sched_bin; } <<<"$bins"
  for b in "$apiserver_bin" "$etcd_bin" "$kubelet_bin" "$kcm_bin" "$sched_bin"; do
    [ -x "$b" ] || die "hack/kube-apiserver.sh build did not give $b"
  done

  # What already is in the host directories the node writes to, so `down` removes only its own.
  mkdir -p /var/log/pods /var/log/containers
  ls -A /var/log/pods >"$d/pods-before"
  ls -A /var/log/containers >"$d/containers-before"
  # containerd 1.6's shims put their sockets in /run/containerd/s whatever the config says.
  [ -e /run/containerd ] || touch "$d/remove-run-containerd"
  [ -e /run/netns ] || touch "$d/remove-run-netns"

  # etcd + kube-apiserver.
  log "up: etcd and kube-apiserver (${SECONDS}s)"
  "$here/kube-apiserver.sh" start "$kube" >/dev/null
  echo "https://127.0.0.1:$(cat "$kube/apiserver.port")" >"$d/apiserver.url"
  kubeconfig "$d/admin.kubeconfig" "{token: \"$(cat "$kube/admin.token")\"}"

  # The kubelet's client certificate: the node authorizer knows it by its group and name.
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:nodes/CN=system:node:$NODE_NAME" \
    -keyout "$d/kubelet-client.key" -out "$d/kubelet-client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$d/kubelet-client.ext"
  openssl x509 -req -in "$d/kubelet-client.csr" -CA "$kube/ca.crt" -CAkey "$kube/ca.key" -CAcreateserial \
    -days 365 -extfile "$d/kubelet-client.ext" -out "$d/kubelet-client.crt" 2>/dev/null
  kubeconfig "$d/kubelet.kubeconfig" "{client-certificate: \"$d/kubelet-client.crt\", client-key: \"$d/kubelet-client.key\"}"

  # kube-controller-manager and kube-scheduler, as the admin.
  log "up: kube-controller-manager, kube-scheduler, containerd (${SECONDS}s)"
  start kube-controller-manager "$kcm_bin" --kubeconfig="$d/admin.kubeconfig" \
    --authentication-kubeconfig="$d/admin.kubeconfig" --authorization-kubeconfig="$d/admin.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$(free_port)" --leader-elect=false \
    --controllers=daemonset-controller,serviceaccount-token-controller,serviceaccount-controller,root-ca-certificate-publisher-controller,node-lifecycle-controller,garbage-collector-controller,replicaset-controller,deployment-controller,job-controller,namespace-controller,pod-garbage-collector-controller \
    --service-account-private-key-file="$kube/sa.key" --root-ca-file="$kube/ca.crt" \
    --use-service-account-credentials=false --allocate-node-cidrs=false --cluster-cidr="$POD_CIDR"
  start kube-scheduler "$sched_bin" --kubeconfig="$d/admin.kubeconfig" \
    --authentication-kubeconfig="$d/admin.kubeconfig" --authorization-kubeconfig="$d/admin.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$(free_port)" --leader-elect=false

  # The mount namespace containerd and the kubelet share: / is rshared inside it.
  start mountns unshare --mount --propagation private -- sh -c 'mount --make-rshared / && exec sleep infinity'
  wait_for "the mount namespace" 10 sh -c "[ \"\$(readlink /proc/$(cat "$d/mountns.pid")/ns/mnt)\" != \"\$(readlink /proc/self/ns/mnt)\" ]"

  # The bridge CNI network (host-local addresses, state under DIR).
  mkdir -p "$d/cni/net.d" "$d/cni/ipam"
  cat >"$d/cni/net.d/10-ferry-node.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "ferry-node",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": false,
     "ipam": {"type": "host-local", "dataDir": "$d/cni/ipam", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "loopback"}
  ]
}
CNI

  # containerd + runc.
  mkdir -p "$d/containerd"
  cat >"$d/containerd/config.toml" <<TOML
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$d/containerd/containerd.sock"
[ttrpc]
  address = "$d/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$d/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/net.d"
TOML
  start containerd nsenter --mount="/proc/$(cat "$d/mountns.pid")/ns/mnt" -- containerd --config "$d/containerd/config.toml"
  wait_for "containerd" 60 in_ns ctr --address "$d/containerd/containerd.sock" version

  # The pod sandbox image.
  log "up: the pause image (${SECONDS}s)"
  load_go "$PAUSE_IMAGE" ./test/node/images/pause

  # The kubelet, in the same mount namespace, under the cgroup /$CGROUP_ROOT of every hierarchy.
  local c
  for c in /sys/fs/cgroup/*/; do
    [ -d "$c" ] && [ "$(basename "$c")" != unified ] && mkdir -p "$c$CGROUP_ROOT"
  done
  local kport hport
  kport=$(free_port); hport=$(free_port)
  mkdir -p "$d/kubelet"
  cat >"$d/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kport
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $hport
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
  x509: {clientCAFile: "$kube/ca.crt"}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$d/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
failCgroupV1: false
failSwapOn: false
makeIPTablesUtilChains: false
hairpinMode: none
resolvConf: /etc/resolv.conf
maxPods: 30
containerLogMaxSize: 1Mi
containerLogMaxFiles: 3
containerLogMonitorInterval: 10s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
nodeStatusUpdateFrequency: 4s
YAML
  # The kubelet sets these on the host when it starts (protectKernelDefaults: false); `down`
  # puts back what they were.
  save_sysctls "$d/sysctls-before"
  start kubelet nsenter --mount="/proc/$(cat "$d/mountns.pid")/ns/mnt" -- "$kubelet_bin" \
    --config="$d/kubelet.yaml" --kubeconfig="$d/kubelet.kubeconfig" --root-dir="$d/kubelet" \
    --hostname-override="$NODE_NAME" --v=1
  echo "$hport" >"$d/kubelet.healthz-port"

  log "up: kubelet started, waiting for the node (${SECONDS}s)"
  wait_for "node $NODE_NAME Ready and untainted" 180 node_ready
  wait_for "the default ServiceAccount" 60 api /api/v1/namespaces/default/serviceaccounts/default
  wait_for "the kube-root-ca.crt ConfigMap" 60 api /api/v1/namespaces/default/configmaps/kube-root-ca.crt

  log "up: node $NODE_NAME ready (${SECONDS}s)"
  cat >"$d/env" <<ENV
export FERRY_NODE_DIR=$d
export FERRY_NODE_NAME=$NODE_NAME
export FERRY_KUBECONFIG=$d/admin.kubeconfig
export FERRY_KUBE_APISERVER=$(cat "$d/apiserver.url")
export FERRY_KUBE_PORT=$(cat "$kube/apiserver.port")
export FERRY_NODE_SCRIPT=$here/node.sh
ENV
  cat "$d/env"
}

# stop_pid FILE [SECONDS]: SIGTERM the process, SIGKILL it after SECONDS (default 10).
stop_pid() {
  local f=$1 limit=${2:-10} pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill "$pid" 2>/dev/null; then
    local deadline=$((SECONDS + limit))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# kill_cgroup_tree: SIGKILL every process in the node's cgroups (the containers), then remove the
# cgroup directories, deepest first.
kill_cgroup_tree() {
  local c dir pid round
  for round in 1 2 3 4 5 6 7 8 9 10; do
    local left=0
    for c in /sys/fs/cgroup/*/"$CGROUP_ROOT"; do
      [ -d "$c" ] || continue
      while read -r pid; do
        [ -n "$pid" ] || continue
        kill -9 "$pid" 2>/dev/null || true
        left=1
      done < <(find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null)
    done
    [ $left = 1 ] || break
    sleep 0.2
  done
  for c in /sys/fs/cgroup/*/"$CGROUP_ROOT"; do
    [ -d "$c" ] || continue
    # Directories only (the files inside a cgroup are the kernel's); deepest first.
    find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ ! -d "$c" ] || log "could not remove cgroup $c"
  done
}

down() {
  need_root
  [ -d "$1" ] || return 0
  d=$(cd "$1" && pwd)
  kube=$d/kube
  # The kubelet first (it would restart containers), then the containers, containerd, and
  # whatever is left in the mount namespace (the shims).
  log "down: stopping the kubelet"
  stop_pid "$d/kubelet.pid"
  log "down: killing the containers (${SECONDS}s)"
  kill_cgroup_tree
  log "down: stopping containerd (${SECONDS}s)"
  stop_pid "$d/containerd.pid"
  log "down: leaving the mount namespace (${SECONDS}s)"
  if [ -f "$d/mountns.pid" ]; then
    local ns holder pid
    holder=$(cat "$d/mountns.pid")
    ns=$(readlink "/proc/$holder/ns/mnt" 2>/dev/null || true)   # mnt:[inode]
    if [ -n "$ns" ]; then
      ns=${ns#mnt:[}; ns=${ns%]}
      # One find over every process's namespace link (a fork per process is slow on a busy machine).
      for pid in $(find /proc/[0-9]*/ns/mnt -maxdepth 0 -lname "mnt:?$ns?" 2>/dev/null | cut -d/ -f3); do
        [ "$pid" = "$holder" ] || kill -9 "$pid" 2>/dev/null || true
      done
    fi
    stop_pid "$d/mountns.pid" 5
  fi
  kill_cgroup_tree
  log "down: stopping the control plane (${SECONDS}s)"
  stop_pid "$d/kube-scheduler.pid"
  stop_pid "$d/kube-controller-manager.pid"
  [ ! -d "$kube" ] || "$here/kube-apiserver.sh" stop "$kube"

  # The bridge (the pods' veths died with their network namespaces).
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE" || log "could not delete $BRIDGE"; fi
  # Network namespace files of the pods (the bind mounts died with the mount namespace).
  local f
  if [ -d "$d/containerd" ]; then
    for f in /run/netns/cni-*; do
      [ -e "$f" ] || continue
      mountpoint -q "$f" || rm -f "$f"
    done
  fi
  # Log directories and symlinks the kubelet created.
  if [ -f "$d/pods-before" ]; then
    for f in $(ls -A /var/log/pods); do
      grep -qxF "$f" "$d/pods-before" || rm -rf "/var/log/pods/${f:?}"
    done
  fi
  if [ -f "$d/containers-before" ]; then
    for f in $(ls -A /var/log/containers); do
      grep -qxF "$f" "$d/containers-before" || rm -f "/var/log/containers/${f:?}"
    done
  fi
  restore_sysctls "$d/sysctls-before"
  if [ -f "$d/remove-run-containerd" ]; then rm -rf /run/containerd; fi
  if [ -f "$d/remove-run-netns" ]; then rmdir /run/netns 2>/dev/null || true; fi
  rm -f "$d/env"
}

load_ferry() {
  local version image
  version="node-$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo dev)"
  image="localhost/ferry:$version"
  (cd "$repo" && VERSION=$version IMAGE=$image FERRY_KEEP_IMAGE=1 hack/image.sh) >&2
  import_buildah "$image"
  echo "$image"
}

# helm_bin: the helm binary hack/helm.sh uses (same version, same cache), built if missing.
helm_bin() {
  local version helm tmp
  version=$(sed -n 's/^HELM_VERSION=//p' "$here/helm.sh")
  [ -n "$version" ] || die "no HELM_VERSION in hack/helm.sh"
  helm=${FERRY_CACHE:-$HOME/.cache/ferry}/bin/helm-$version
  if [ ! -x "$helm" ]; then
    log "building helm $version into $helm (once; about 3 minutes)"
    tmp=$(mktemp -d)
    mkdir -p "$(dirname "$helm")"
    GOBIN="$tmp" go install "helm.sh/helm/v4/cmd/helm@$version" >&2
    mv "$tmp/helm" "$helm.$$" && mv "$helm.$$" "$helm"
    rm -rf "$tmp"
  fi
  echo "$helm"
}

cmd=${1:-}
case "$cmd" in
  up) [ -n "${2:-}" ] || die "usage: $0 up DIR"; up "$2" ;;
  down) [ -n "${2:-}" ] || die "usage: $0 down DIR"; down "$2" ;;
  load)
    [ -n "${4:-}" ] || die "usage: $0 load DIR IMAGE PKG"
    d=$(cd "$2" && pwd); load_go "$3" "$4" ;;
  load-ferry)
    [ -n "${2:-}" ] || die "usage: $0 load-ferry DIR"
    d=$(cd "$2" && pwd); load_ferry ;;
  helm) helm_bin ;;
  ctr)
    [ -n "${2:-}" ] || die "usage: $0 ctr DIR ARGS..."
    d=$(cd "$2" && pwd); shift 2; ctr_ "$@" ;;
  *) die "usage: $0 up DIR | down DIR | load DIR IMAGE PKG | load-ferry DIR | helm | ctr DIR ARGS..." ;;
esac
