#!/usr/bin/env bash
# Builds the ferry image without a container daemon and without pulling a base
# image: the binary is compiled with the exact command of the Dockerfile's
# build stage, then the Dockerfile's runtime stage (FROM scratch, labels,
# user, entrypoint) is built by buildah from that binary and the host's CA
# bundle, and `ferry version` runs inside the image, and `ferry demo`, which
# must say the demo is not in this build (-tags nodemo).
#
#   hack/image.sh                  # builds ferry:<version> and checks it
#   VERSION=v0.1.0 hack/image.sh   # stamps another version
#   FERRY_IMAGE_ARCHIVE=ferry.tar hack/image.sh   # also writes an OCI archive
#
# Needs Debian's buildah (apt-get install -y buildah; installed if missing
# and running as root).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
COMMIT="${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
TARGETOS="${TARGETOS:-$(go env GOOS)}"
TARGETARCH="${TARGETARCH:-$(go env GOARCH)}"
IMAGE="${IMAGE:-localhost/ferry:${VERSION}}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

if ! command -v buildah >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing buildah"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah >/dev/null; }
  else
    echo "buildah is required: apt-get install -y buildah" >&2
    exit 1
  fi
fi
buildah=(buildah --storage-driver vfs)

ctx=$(mktemp -d)
ctr=""
cleanup() {
  if [ -n "$ctr" ]; then "${buildah[@]}" rm "$ctr" >/dev/null || true; fi
  rm -rf "$ctx"
}
trap cleanup EXIT

# 1. The binary, with the build stage's own command line.
build=$(sed -n 's/^RUN \(CGO_ENABLED=0 .* go build .*\)$/\1/p' Dockerfile)
if [ "$(printf '%s\n' "$build" | grep -c .)" != 1 ]; then
  echo "Dockerfile: want exactly one 'RUN CGO_ENABLED=0 ... go build ...' line" >&2
  exit 1
fi
for flag in '-tags nodemo' -trimpath '-s -w' main.version main.commit ' -o /out/ferry '; do
  case "$build" in *"$flag"*) ;; *) echo "Dockerfile build line lacks $flag: $build" >&2; exit 1 ;; esac
done
build=${build/ -o \/out\/ferry / -o \"\$ctx\/ferry\" }
echo "== $build"
VERSION="$VERSION" COMMIT="$COMMIT" TARGETOS="$TARGETOS" TARGETARCH="$TARGETARCH" ctx="$ctx" \
  bash -c "set -eu; $build"
# The binary carries its build settings: check them rather than trust them
# (-ldflags is not recorded with -trimpath; `ferry version` below shows it).
info=$(go version -m "$ctx/ferry")
tab=$(printf '\t')
for setting in "build${tab}CGO_ENABLED=0" "build${tab}-trimpath=true" "build${tab}-tags=nodemo"; do
  printf '%s\n' "$info" | grep -qF "$setting" ||
    { echo "binary build info lacks $setting:" >&2; echo "$info" >&2; exit 1; }
done
cp "$CA_BUNDLE" "$ctx/ca-certificates.crt"

# 2. The runtime stage, verbatim but for where COPY takes its files from.
awk '/^FROM scratch/ {p = 1} p' Dockerfile |
  sed -e 's#^COPY --from=build /out/ferry #COPY ferry #' \
      -e 's#^COPY --from=build /etc/ssl/certs/ca-certificates.crt #COPY ca-certificates.crt #' \
  >"$ctx/Containerfile"
if grep -q -- '--from=' "$ctx/Containerfile"; then
  echo "Dockerfile runtime stage copies something hack/image.sh does not provide:" >&2
  grep -- '--from=' "$ctx/Containerfile" >&2
  exit 1
fi
echo "== buildah bud -t $IMAGE"
"${buildah[@]}" bud --quiet --isolation chroot --layers=false \
  --build-arg VERSION="$VERSION" --build-arg COMMIT="$COMMIT" \
  -f "$ctx/Containerfile" -t "$IMAGE" "$ctx" >/dev/null

# 3. Check what the image is, then run it.
cfg=$("${buildah[@]}" inspect --type image --format \
  '{{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}} {{.OCIv1.Config.User}} {{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}' "$IMAGE")
want='[/ferry] [run --config /etc/ferry/config.yaml] 65532:65532 '"$VERSION"
if [ "$cfg" != "$want" ]; then
  echo "image config: got  $cfg" >&2
  echo "              want $want" >&2
  exit 1
fi
ctr=$("${buildah[@]}" from --quiet --pull-never "$IMAGE")
root=$("${buildah[@]}" mount "$ctr")
for f in ferry etc/ssl/certs/ca-certificates.crt; do
  [ -s "$root/$f" ] || { echo "image lacks /$f" >&2; exit 1; }
done
"${buildah[@]}" umount "$ctr" >/dev/null
out=$("${buildah[@]}" run --isolation chroot "$ctr" -- /ferry version)
echo "== ferry version (in the image): $out"
case "$out" in
  *"$VERSION"*) ;;
  *) echo "ferry version does not report $VERSION" >&2; exit 1 ;;
esac

# The demo is not in the image (-tags nodemo): its ferry demo says so, exit 1.
if out=$("${buildah[@]}" run --isolation chroot "$ctr" -- /ferry demo 2>&1); then
  echo "ferry demo ran in the image: the demo is built in" >&2; exit 1
fi
case "$out" in
  *"go run ./cmd/agent demo"*) echo "== ferry demo (in the image): not in this build, says how to run it" ;;
  *) echo "ferry demo in the image does not say how to run the demo: $out" >&2; exit 1 ;;
esac

if [ -n "${FERRY_IMAGE_ARCHIVE:-}" ]; then
  "${buildah[@]}" push --quiet "$IMAGE" "oci-archive:$FERRY_IMAGE_ARCHIVE:$IMAGE"
  echo "== wrote $FERRY_IMAGE_ARCHIVE"
fi
if [ -z "${FERRY_KEEP_IMAGE:-}" ]; then
  "${buildah[@]}" rm "$ctr" >/dev/null && ctr=""
  "${buildah[@]}" rmi "$IMAGE" >/dev/null
fi
echo "== image OK: $IMAGE"
