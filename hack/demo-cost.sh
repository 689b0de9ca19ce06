#!/usr/bin/env bash
# What `ferry demo` costs the binary: builds cmd/agent with the Dockerfile's
# own build line (the image's binary, -tags nodemo) and with the same line
# without -tags nodemo (the demo built in), and prints for both the size, the
# packages linked, and the package initialisation time of `ferry version`
# (GODEBUG=inittrace=1, summed over packages, and over the packages only
# the demo links) and its wall time (a run without the trace); medians of
# RUNS runs, alternating the two binaries.
#
#   hack/demo-cost.sh            # 21 runs of each binary
#   RUNS=51 hack/demo-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-21}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

build=$(sed -n 's/^RUN \(CGO_ENABLED=0 .* go build .*\)$/\1/p' Dockerfile)
case "$build" in
  *" -tags nodemo "*" -o /out/ferry "*) ;;
  *) echo "Dockerfile: no one 'RUN CGO_ENABLED=0 ... go build -tags nodemo ... -o /out/ferry ...' line" >&2; exit 1 ;;
esac
image=${build/ -o \/out\/ferry / -o \"\$tmp\/ferry-image\" }
demo=${build/ -tags nodemo / }
demo=${demo/ -o \/out\/ferry / -o \"\$tmp\/ferry-demo\" }
for line in "$image" "$demo"; do
  echo "== $line"
  VERSION=dev COMMIT=unknown TARGETOS="$(go env GOOS)" TARGETARCH="$(go env GOARCH)" tmp="$tmp" \
    bash -c "set -eu; $line"
done

# median of the numbers on stdin
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

deps() { go list -deps "$@" ./cmd/agent | sort; }
deps -tags nodemo >"$tmp/image.deps"
deps >"$tmp/demo.deps"
comm -13 "$tmp/image.deps" "$tmp/demo.deps" >"$tmp/only"
nonstd() { go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' "$@" ./cmd/agent | grep -c .; }

for b in image demo; do : >"$tmp/$b.init"; : >"$tmp/$b.wall"; : >"$tmp/$b.own"; done
for _ in $(seq "$RUNS"); do
  for b in image demo; do
    GODEBUG=inittrace=1 "$tmp/ferry-$b" version 2>"$tmp/trace" >/dev/null
    # "init PKG @T ms, CLOCK ms clock, BYTES bytes, N allocs"
    awk '/^init / {c += $5; a += $8; n++} END {printf "%.3f %d %d\n", c, a, n}' "$tmp/trace" >>"$tmp/$b.init"
    awk 'NR == FNR {only[$1]; next} /^init / && ($2 in only) {c += $5} END {printf "%.3f\n", c}' \
      "$tmp/only" "$tmp/trace" >>"$tmp/$b.own"
    start=$EPOCHREALTIME
    "$tmp/ferry-$b" version >/dev/null
    end=$EPOCHREALTIME
    awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f\n", (e - s) * 1000}' >>"$tmp/$b.wall"
  done
done

size_image=$(stat -c %s "$tmp/ferry-image")
size_demo=$(stat -c %s "$tmp/ferry-demo")
echo
echo "                          image (-tags nodemo)   with the demo"
printf '%-26s %20d %15d   +%d bytes (+%.1f %%)\n' "binary size, bytes" "$size_image" "$size_demo" \
  $((size_demo - size_image)) "$(awk -v a="$size_image" -v b="$size_demo" 'BEGIN {print (b - a) * 100 / a}')"
printf '%-26s %20d %15d\n' "packages linked" "$(grep -c . "$tmp/image.deps")" "$(grep -c . "$tmp/demo.deps")"
printf '%-26s %20d %15d\n' "  outside the std library" "$(nonstd -tags nodemo)" "$(nonstd)"
for b in image demo; do
  cut -d' ' -f1 "$tmp/$b.init" | median >"$tmp/$b.initms"
  cut -d' ' -f2 "$tmp/$b.init" | median >"$tmp/$b.initbytes"
  cut -d' ' -f3 "$tmp/$b.init" | median >"$tmp/$b.initpkgs"
  median <"$tmp/$b.wall" >"$tmp/$b.wallms"
  median <"$tmp/$b.own" >"$tmp/$b.ownms"
done
printf '%-26s %20d %15d\n' "packages with an init" "$(cat "$tmp/image.initpkgs")" "$(cat "$tmp/demo.initpkgs")"
printf '%-26s %20s %15s   (median of %d)\n' "init clock, ms (sum)" "$(cat "$tmp/image.initms")" "$(cat "$tmp/demo.initms")" "$RUNS"
printf '%-26s %20s %15s\n' "  of which demo-only, ms" "$(cat "$tmp/image.ownms")" "$(cat "$tmp/demo.ownms")"
printf '%-26s %20d %15d\n' "init heap, bytes" "$(cat "$tmp/image.initbytes")" "$(cat "$tmp/demo.initbytes")"
printf '%-26s %20s %15s\n' "ferry version wall, ms" "$(cat "$tmp/image.wallms")" "$(cat "$tmp/demo.wallms")"
echo
echo "linked only with the demo:"
sed 's/^/  /' "$tmp/only"
