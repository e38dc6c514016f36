#!/usr/bin/env bash
# Makes a LOCAL stand-in for the Dockerfile's base image, docker.io/library/node:20-bookworm-slim,
# for machines that reach no container registry (CI here): a Debian bookworm rootfs from
# debootstrap (variant minbase, trimmed like Debian's slim images) plus this machine's Node.js
# and npm, laid out like the official image (/usr/local/bin/node, /usr/local/lib/node_modules/npm,
# npm/npx symlinks). apt sources point at this machine's Debian mirror, so that the Dockerfile's
# `apt-get install tini` works.
#
# The debootstrap rootfs is cached as a tarball under $TASKPOD_IMAGE_CACHE (default .cache/image,
# git-ignored), so a second run only re-imports it (seconds, not a minute).
#
# Usage: scripts/image-base.sh [IMAGE_NAME]   (root, buildah and debootstrap installed)
# Env: TASKPOD_IMAGE_CACHE, DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (default: read from /etc/apt).
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:-docker.io/library/node:20-bookworm-slim}
suite=bookworm
cache=${TASKPOD_IMAGE_CACHE:-.cache/image}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

say() { echo "image-base: $*" >&2; }
die() { echo "image-base: ERROR: $*" >&2; exit 1; }

# --- The Debian mirror this machine uses (deb822 .sources or one-line .list), unless given.
apt_uris() { # prints "URI SUITE" pairs from the machine's apt sources
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    # Options in brackets ([arch=amd64 signed-by=...]) may span several words: skip them.
    if [ -f "$f" ]; then
      awk '$1 == "deb" { u = ""; opt = 0; for (i = 2; i <= NF; i++) { if ($i ~ /^\[/) opt = 1; if (!opt && u == "") { u = $i; s = $(i+1) } if ($i ~ /\]$/) opt = 0 } print u, s }' "$f"
    fi
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue  # an unmatched glob: the test must not be the function's status
    awk '
      function flush() { if (types ~ /(^| )deb( |$)/) for (i in us) for (j in ss) print us[i], ss[j]; delete us; delete ss; types = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^Types:/ { types = $0; sub(/^Types:[[:space:]]*/, "", types) }
      /^URIs:/ { n = split($0, a, /[[:space:]]+/); for (k = 2; k <= n; k++) us[k] = a[k] }
      /^Suites:/ { n = split($0, a, /[[:space:]]+/); for (k = 2; k <= n; k++) ss[k] = a[k] }
      END { flush() }' "$f"
  done
}
if [ -z "${DEBIAN_MIRROR:-}" ]; then
  DEBIAN_MIRROR=$(apt_uris | awk -v s="$suite" '$2 == s { print $1; exit }')
fi
[ -n "$DEBIAN_MIRROR" ] || die "no Debian mirror for '$suite' found in /etc/apt/sources.list*; set DEBIAN_MIRROR"
if [ -z "${DEBIAN_SECURITY_MIRROR:-}" ]; then
  DEBIAN_SECURITY_MIRROR=$(apt_uris | awk -v s="$suite-security" '$2 == s { print $1; exit }')
fi

# --- This machine's Node.js and npm (the official image has Node.js 20 at /usr/local/bin).
node_bin=$(readlink -f "$(command -v node)") || die "node not found"
node_version=$("$node_bin" --version)
case "$node_version" in v20.*) ;; *) die "the image's base is Node.js 20; this machine has $node_version" ;; esac
npm_dir=""
for d in "$(dirname "$(readlink -f "$(command -v npm)")")/.." /usr/local/lib/node_modules/npm /usr/lib/node_modules/npm; do
  if [ -f "$d/package.json" ] && [ -f "$d/bin/npm-cli.js" ]; then npm_dir=$(cd "$d" && pwd); break; fi
done
[ -n "$npm_dir" ] || die "npm's package directory not found (looked next to $(command -v npm), /usr/local/lib/node_modules/npm, /usr/lib/node_modules/npm)"

# --- The debootstrap rootfs, cached per suite and mirror.
key=$(printf '%s %s' "$suite" "$DEBIAN_MIRROR" | sha256sum | cut -c1-12)
tarball="$cache/$suite-minbase-$key.tar"
if [ ! -s "$tarball" ]; then
  say "debootstrap --variant=minbase $suite from $DEBIAN_MIRROR (once; cached as $tarball)"
  work=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  start=$SECONDS
  if ! debootstrap --variant=minbase "$suite" "$work/rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  fi
  r="$work/rootfs"
  # Trim like Debian's slim images: no docs, man pages or locales now or from later installs;
  # no package caches or lists; an empty /dev (the runtime provides one).
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$r/usr/share/man"/* "$r/usr/share/info"/* "$r/usr/share/groff"/* "$r/usr/share/lintian"/*
  find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$r/var/cache/apt"/*.bin "$r/var/cache/apt/archives"/*.deb "$r/var/lib/apt/lists"/* \
         "$r/var/log"/*.log "$r/var/log/apt"/* "$r/dev"/* "$r/tmp"/* "$r/run"/*
  : >"$r/etc/hostname"
  : >"$r/etc/resolv.conf"
  tar -C "$r" --numeric-owner --xattrs -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$work"
  trap - EXIT
  say "rootfs ready in $((SECONDS - start)) s ($(du -h "$tarball" | cut -f1))"
else
  say "cached rootfs $tarball"
fi

# --- The image: rootfs, apt sources, Node.js and npm, the official image's config.
ctr=$(buildah from --name "taskpod-base-$$" scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah add --quiet "$ctr" "$tarball" / >/dev/null
mnt=$(buildah mount "$ctr")
rm -f "$mnt/etc/apt/sources.list"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$DEBIAN_MIRROR" "$suite" "$suite"
  if [ -n "$DEBIAN_SECURITY_MIRROR" ]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$DEBIAN_SECURITY_MIRROR" "$suite"
  fi
} >"$mnt/etc/apt/sources.list.d/debian.sources"
install -D -m 0755 "$node_bin" "$mnt/usr/local/bin/node"
mkdir -p "$mnt/usr/local/lib/node_modules"
cp -a "$npm_dir" "$mnt/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
# A machine whose HTTPS goes through an intercepting proxy (this workplace's) names its CA bundle
# in npm's cafile: the stand-in base carries it as npm's global config, as a site base image would.
cafile=$(npm config get cafile 2>/dev/null || true)
if [ -n "$cafile" ] && [ "$cafile" != null ] && [ "$cafile" != undefined ] && [ -f "$cafile" ]; then
  install -D -m 0644 "$cafile" "$mnt/usr/local/share/ca-certificates/site-ca-bundle.crt"
  mkdir -p "$mnt/usr/local/etc"
  printf 'cafile=/usr/local/share/ca-certificates/site-ca-bundle.crt\n' >"$mnt/usr/local/etc/npmrc"
  say "npm cafile from this machine: $cafile"
fi
buildah umount "$ctr" >/dev/null
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="${node_version#v}" \
  --cmd '["node"]' \
  --label org.opencontainers.image.description="Local stand-in for $name (debootstrap $suite minbase + Node.js $node_version)" \
  --os linux --arch "$(dpkg --print-architecture)" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$name" >/dev/null
trap - EXIT
say "committed $name (Node.js $node_version, npm $("$node_bin" "$npm_dir/bin/npm-cli.js" --version), mirror $DEBIAN_MIRROR)"
