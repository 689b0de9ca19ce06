#!/usr/bin/env bash
# A real kube-apiserver + etcd for integration tests, built from Go modules and
# started on 127.0.0.1 only.
#
#   hack/kube-apiserver.sh build              build (once) and print the binary paths: kube-apiserver,
#                                             etcd, then kubelet, kube-controller-manager and
#                                             kube-scheduler (hack/node.sh runs those)
#   hack/kube-apiserver.sh start DIR          build if needed, start etcd + kube-apiserver with state
#                                             in DIR, wait for /readyz, print `export ...` lines
#                                             (also written to DIR/env)
#   hack/kube-apiserver.sh stop DIR           stop both
#   hack/kube-apiserver.sh stop-apiserver DIR   stop only kube-apiserver (etcd keeps the data)
#   hack/kube-apiserver.sh start-apiserver DIR  start it again on the same port, wait for /readyz
#
# Binaries are cached in ${FERRY_CACHE:-$HOME/.cache/ferry}/bin (version in the name) and rebuilt only
# when missing. kube-apiserver, kubelet, kube-controller-manager and kube-scheduler are built together
# in one `go build` (they share most of the work): 27 CPU-minutes cold (2.7 GB peak RSS, ~1 GB of
# module cache), which took 77 minutes of wall time on a heavily loaded 2-core machine; etcd about half
# a minute idle (18 minutes under that load).
#
# Environment variables this script exports start with FERRY_KUBE_ (etcd reads every ETCD_* variable
# as a flag, so none of ours are named that way).
set -euo pipefail

KUBE_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
ETCD_SERVER_VERSION=v3.7.3

cache_dir=${FERRY_CACHE:-$HOME/.cache/ferry}
bin_dir=$cache_dir/bin
apiserver_bin=$bin_dir/kube-apiserver-$KUBE_VERSION
etcd_bin=$bin_dir/etcd-$ETCD_SERVER_VERSION

log() { echo "kube-apiserver.sh: $*" >&2; }
die() { log "$*"; exit 1; }

build_etcd() {
  [ -x "$etcd_bin" ] && return 0
  local dir=$cache_dir/build/etcd-$ETCD_SERVER_VERSION
  mkdir -p "$dir" "$bin_dir"
  log "building etcd $ETCD_SERVER_VERSION in $dir"
  cat >"$dir/main.go" <<'GO'
// Command etcd is etcd's own server entry point, built from go.etcd.io/etcd/server/v3.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (
    cd "$dir"
    export GOWORK=off GOFLAGS=-mod=mod
    [ -f go.mod ] || go mod init ferry.local/etcd >/dev/null 2>&1
    go mod edit -require=go.etcd.io/etcd/server/v3@$ETCD_SERVER_VERSION
    go mod tidy
    CGO_ENABLED=0 go build -trimpath -o "$etcd_bin.tmp" .
  )
  mv "$etcd_bin.tmp" "$etcd_bin"
}

# The Kubernetes commands built from k8s.io/kubernetes, all in one `go build`
# (they share most packages): kube-apiserver for every integration test, the
# others for the one-node cluster of hack/node.sh.
KUBE_COMMANDS="kube-apiserver kubelet kube-controller-manager kube-scheduler"

kube_bin() { echo "$bin_dir/$1-$KUBE_VERSION"; }

# build_kube CMD... builds the named commands that are not cached yet, in one
# `go build`.
build_kube() {
  local missing="" c
  for c in "$@"; do
    [ -x "$(kube_bin "$c")" ] || missing+=" $c"
  done
  [ -n "$missing" ] || return 0
  local dir=$cache_dir/build/kube-$KUBE_VERSION
  mkdir -p "$dir" "$bin_dir"
  log "building$missing $KUBE_VERSION in $dir (minutes on 2 cores; the kubelet with them up to half an hour)"
  (
    cd "$dir"
    export GOWORK=off GOFLAGS=-mod=mod
    rm -f go.mod go.sum
    go mod init ferry.local/kube >/dev/null 2>&1
    go mod edit -require=k8s.io/kubernetes@$KUBE_VERSION
    # The module zip has no staging/ folder, so k8s.io/kubernetes' own replaces cannot work:
    # replace every staging module it points at ./staging/src/... with the published release.
    local gomod
    gomod=$(go mod download -json k8s.io/kubernetes@$KUBE_VERSION | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [ -f "$gomod" ] || die "cannot find go.mod of k8s.io/kubernetes@$KUBE_VERSION"
    local mods
    mods=$(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*#\1#p' "$gomod" | sort -u)
    [ -n "$mods" ] || die "no staging replaces found in $gomod"
    local m
    for m in $mods; do
      go mod edit -replace="$m=$m@$STAGING_VERSION"
    done
    local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
    local ldflags="-s -w"
    ldflags+=" -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
    ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
    local pkgs="" out=$dir/out
    for c in $missing; do pkgs+=" k8s.io/kubernetes/cmd/$c"; done
    rm -rf "$out" && mkdir -p "$out"
    # shellcheck disable=SC2086 # one word per package
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/" $pkgs
    for c in $missing; do
      mv "$out/$c" "$(kube_bin "$c").tmp" && mv "$(kube_bin "$c").tmp" "$(kube_bin "$c")"
    done
  )
}

build() {
  build_etcd
  # shellcheck disable=SC2086 # one word per command
  build_kube $KUBE_COMMANDS
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

gen_certs() {
  local d=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ferry-test-ca" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$d/apiserver.key" -out "$d/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >"$d/apiserver.ext"
  openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 3650 -extfile "$d/apiserver.ext" -out "$d/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

wait_ready() {
  local d=$1 port deadline
  port=$(cat "$d/apiserver.port")
  deadline=$((SECONDS + 120))
  until curl -fsS --cacert "$d/ca.crt" -H "Authorization: Bearer $(cat "$d/admin.token")" \
      "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$d/apiserver.pid")" 2>/dev/null; then
      tail -n 30 "$d/apiserver.log" >&2 || true
      die "kube-apiserver exited; log: $d/apiserver.log"
    fi
    [ $SECONDS -lt $deadline ] || die "kube-apiserver not ready after 120s; log: $d/apiserver.log"
    sleep 0.5
  done
}

start_etcd() {
  local d=$1 cport pport
  cport=$(free_port); pport=$(free_port)
  echo "$cport" >"$d/etcd.port"
  setsid "$etcd_bin" --name default --data-dir "$d/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "default=http://127.0.0.1:$pport" --log-level warn \
    >"$d/etcd.log" 2>&1 </dev/null &
  echo $! >"$d/etcd.pid"
  local deadline=$((SECONDS + 60))
  until curl -fsS "http://127.0.0.1:$cport/health" >/dev/null 2>&1; do
    kill -0 "$(cat "$d/etcd.pid")" 2>/dev/null || die "etcd exited; log: $d/etcd.log"
    [ $SECONDS -lt $deadline ] || die "etcd not healthy after 60s; log: $d/etcd.log"
    sleep 0.2
  done
}

start_apiserver() {
  local d=$1
  local port; port=$(cat "$d/apiserver.port")
  setsid "$apiserver_bin" \
    --etcd-servers="http://127.0.0.1:$(cat "$d/etcd.port")" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$port" \
    --cert-dir="$d" --tls-cert-file="$d/apiserver.crt" --tls-private-key-file="$d/apiserver.key" \
    --client-ca-file="$d/ca.crt" \
    --token-auth-file="$d/tokens.csv" \
    --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
    >"$d/apiserver.log" 2>&1 </dev/null &
  echo $! >"$d/apiserver.pid"
  wait_ready "$d"
}

stop_pid() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill "$pid" 2>/dev/null; then
    local i
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

start() {
  local d=$1
  build
  mkdir -p "$d"
  d=$(cd "$d" && pwd)
  gen_certs "$d"
  local token; token=$(openssl rand -hex 24)
  echo "$token" >"$d/admin.token"
  echo "$token,admin,admin-uid,\"system:masters\"" >"$d/tokens.csv"
  free_port >"$d/apiserver.port"
  start_etcd "$d"
  start_apiserver "$d"
  local url="https://127.0.0.1:$(cat "$d/apiserver.port")"
  cat >"$d/admin.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: ferry-test
  cluster: {server: "$url", certificate-authority: "$d/ca.crt"}
users:
- name: admin
  user: {token: "$token"}
contexts:
- name: ferry-test
  context: {cluster: ferry-test, user: admin}
current-context: ferry-test
KC
  local script; script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
  cat >"$d/env" <<ENV
export FERRY_KUBE_APISERVER=$url
export FERRY_KUBE_DIR=$d
export FERRY_KUBECONFIG=$d/admin.kubeconfig
export FERRY_KUBE_SCRIPT=$script
ENV
  cat "$d/env"
}

cmd=${1:-}
case "$cmd" in
  build) build; echo "$apiserver_bin"; echo "$etcd_bin"
    for c in $KUBE_COMMANDS; do [ "$c" = kube-apiserver ] || kube_bin "$c"; done ;;
  start) [ -n "${2:-}" ] || die "usage: $0 start DIR"; start "$2" ;;
  stop) [ -n "${2:-}" ] || die "usage: $0 stop DIR"; stop_pid "$2/apiserver.pid"; stop_pid "$2/etcd.pid" ;;
  stop-apiserver) [ -n "${2:-}" ] || die "usage: $0 stop-apiserver DIR"; stop_pid "$2/apiserver.pid" ;;
  start-apiserver) [ -n "${2:-}" ] || die "usage: $0 start-apiserver DIR"; start_apiserver "$2" ;;
  *) die "usage: $0 build | start DIR | stop DIR | stop-apiserver DIR | start-apiserver DIR" ;;
esac
