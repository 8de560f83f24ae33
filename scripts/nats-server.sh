#!/usr/bin/env bash
# Prints the path of a nats-server binary of version 2.12 or newer, obtaining one if needed.
#
# Order: $NATTER_NATS_SERVER if set; `nats-server` on PATH if new enough; the project's cache
# (.cache/nats-server); else Debian's unstable package, downloaded with apt into the cache with a
# private sources list and lists directory (the mirror is read from this machine's own apt sources)
# and unpacked with `dpkg -x`. Nothing in the system's apt setup changes.
#
# Usage: scripts/nats-server.sh [--check] [--help]
#   --check   obtain it if needed, print the path and the version to stderr
set -euo pipefail

MIN_MAJOR=2
MIN_MINOR=12
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NATTER_CACHE_DIR:-$root/.cache}/nats-server"

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

# new_enough BINARY: true when BINARY reports version >= MIN_MAJOR.MIN_MINOR
new_enough() {
  local v
  v="$("$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1)" || return 1
  [[ -n "$v" ]] || return 1
  local major="${v%%.*}" rest="${v#*.}"
  local minor="${rest%%.*}"
  (( major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR) ))
}

found() {
  if [[ "${1:-}" != "" ]]; then
    echo "nats-server: using $1 ($("$1" --version))" >&2
  fi
  echo "$1"
  exit 0
}

if [[ -n "${NATTER_NATS_SERVER:-}" ]]; then
  new_enough "$NATTER_NATS_SERVER" && found "$NATTER_NATS_SERVER"
  echo "error: NATTER_NATS_SERVER=$NATTER_NATS_SERVER is not a nats-server of ${MIN_MAJOR}.${MIN_MINOR} or newer" >&2
  exit 1
fi

if command -v nats-server >/dev/null 2>&1 && new_enough "$(command -v nats-server)"; then
  found "$(command -v nats-server)"
fi

cached="$cache/root/usr/sbin/nats-server"
if [[ -x "$cached" ]] && new_enough "$cached"; then
  found "$cached"
fi

fail() {
  cat >&2 <<MSG
error: natter needs nats-server ${MIN_MAJOR}.${MIN_MINOR} or newer and could not obtain one: $1
  Install one (the NATS project's release binaries or your distribution's package),
  then either put it on PATH or set NATTER_NATS_SERVER=/path/to/nats-server.
MSG
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get is not available on this machine"
command -v dpkg >/dev/null 2>&1 || fail "dpkg is not available on this machine"

# The Debian mirror this machine already uses, from its own apt sources (deb822 or one-line form).
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [[ -f "$f" ]] || continue
  m="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /debian\/?$/) { print $i; exit } }' "$f")"
  if [[ -n "$m" ]]; then mirror="$m"; break; fi
done
if [[ -z "$mirror" ]]; then
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    m="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/ && $i ~ /debian\/?$/) { print $i; exit } }' "$f")"
    if [[ -n "$m" ]]; then mirror="$m"; break; fi
  done
fi
[[ -n "$mirror" ]] || fail "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d"

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -f "$keyring" ]] || fail "the Debian archive keyring ($keyring) is missing"

echo "nats-server: fetching Debian's unstable package into $cache (once) ..." >&2
apt_dir="$cache/apt"
rm -rf "$apt_dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/etc/parts" "$apt_dir/deb"
echo "deb [signed-by=$keyring] $mirror unstable main" >"$apt_dir/etc/sources.list"
apt_opts=(
  -o "Dir::Etc::sourcelist=$apt_dir/etc/sources.list"
  -o "Dir::Etc::sourceparts=$apt_dir/etc/parts"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::Etc::preferences=/dev/null"
  -o "Dir::Etc::preferencesparts=$apt_dir/etc/parts"
  -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1"
  -qq
)
apt-get "${apt_opts[@]}" update >&2 || fail "apt-get update of the private list failed (network?)"
(cd "$apt_dir/deb" && apt-get "${apt_opts[@]}" download nats-server >&2) ||
  fail "apt-get download nats-server failed"
deb="$(ls "$apt_dir"/deb/nats-server_*.deb 2>/dev/null | head -n1)"
[[ -n "$deb" ]] || fail "the package did not arrive"
rm -rf "$cache/root"
dpkg -x "$deb" "$cache/root" || fail "dpkg -x $deb failed"
rm -rf "$apt_dir"
[[ -x "$cached" ]] || fail "the package holds no usr/sbin/nats-server"
new_enough "$cached" || fail "Debian's package is older than ${MIN_MAJOR}.${MIN_MINOR} ($("$cached" --version))"
found "$cached"
