#!/usr/bin/env bash
# Security scanning as a speed camera, not a tollbooth: govulncheck against a
# pinned vulnerability database, built offline from the Go module
# golang.org/x/vulndb by its own cmd/indexdb. The scan fails only when ferry
# calls vulnerable code (govulncheck's symbol-level results); vulnerabilities
# in imported packages or required modules that ferry does not call are
# printed, not fatal. Tools and database are cached in ${FERRY_CACHE}.
#
# The standard library is scanned at the version of the `go` command in use:
# set GOTOOLCHAIN (e.g. go1.26.10) to scan and build with a patched one.
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
cache="${FERRY_CACHE:-$HOME/.cache/ferry}"
govulncheck="$cache/bin/govulncheck-$GOVULNCHECK_VERSION"
indexdb="$cache/bin/indexdb-$VULNDB_VERSION"
db="$cache/vulndb-$VULNDB_VERSION"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# install PKG@VERSION DEST: go install into a temporary GOBIN, then move into
# place, so that an interrupted build never leaves a half-written tool.
install() {
  echo "== building $1 (once)"
  mkdir -p "$(dirname "$2")"
  (cd "$tmp" && GOBIN="$tmp/gobin" go install "$1")
  mv "$tmp/gobin/$(basename "${1%@*}")" "$2.$$" && mv "$2.$$" "$2"
}
[ -x "$govulncheck" ] || install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" "$govulncheck"
if [ ! -f "$db/index/db.json" ]; then
  [ -x "$indexdb" ] || install "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" "$indexdb"
  echo "== building the vulnerability database $VULNDB_VERSION (once)"
  src=$(cd "$tmp" && go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { echo "no data/osv in golang.org/x/vulndb@$VULNDB_VERSION ($src)" >&2; exit 1; }
  "$indexdb" -vulns "$src/data/osv" -out "$tmp/db"
  mkdir -p "$(dirname "$db")"
  rm -rf "$db.$$" && mv "$tmp/db" "$db.$$" && mv "$db.$$" "$db"
fi

echo "== govulncheck $GOVULNCHECK_VERSION, database $VULNDB_VERSION, $(go env GOVERSION)"
set +e
"$govulncheck" -db "file://$db" -show verbose ./...
rc=$?
set -e
case $rc in
  0) echo "== govulncheck: ferry calls no known vulnerable code" ;;
  3) echo "== govulncheck: ferry calls vulnerable code (see 'Symbol Results' above): upgrade the module or the Go toolchain" >&2
     exit 1 ;;
  *) echo "== govulncheck failed to run (exit $rc)" >&2
     exit "$rc" ;;
esac
