#!/usr/bin/env bash
# Builds a local base image for the Containerfile from this machine's own Debian packages, without any registry.
#
# Usage: scripts/container-base.sh build|runtime IMAGE_TAG [CACHE_DIR]
#
# What it makes: a root file system holding the files (as `dpkg -L` lists them) of this machine's Node.js package
# (and the npm it runs), a shell and coreutils, plus their dependencies; for `build`, also what the Containerfile's
# build stage needs to compile better-sqlite3 (g++, make, python3); this machine's CA bundle and npm's `cafile`
# setting (so `npm ci` inside the build trusts what the host trusts); a `node` user with uid 1000 as in the
# official Node images. It stands in for `node:20-bookworm-slim`, which cannot be pulled here. The root file
# system is packed once into CACHE_DIR (default /var/cache/pygmy-containers) under a key made of the package
# versions and this script (the archive of older packages is deleted then), and imported from there on later
# runs. Needs root, dpkg, apt-cache, ldconfig and podman. Prints the image tag on its last line.
set -euo pipefail

kind="${1:?usage: container-base.sh build|runtime IMAGE_TAG [CACHE_DIR]}"
tag="${2:?usage: container-base.sh build|runtime IMAGE_TAG [CACHE_DIR]}"
cache_dir="${3:-/var/cache/pygmy-containers}"
node_binary="$(readlink -f "$(command -v node)")"
node_package="$(dpkg -S "$node_binary" | cut -d: -f1)"
case "$kind" in
  build) wanted=(dash bash coreutils sed grep findutils ca-certificates g++ make python3) ;;
  runtime) wanted=(dash coreutils) ;;
  *) echo "container-base.sh: the kind must be build or runtime, not \"$kind\"" >&2; exit 2 ;;
esac

# The packages of the shared libraries node links (its package may not declare them all).
linked="$(for library in $(ldd "$node_binary" | awk '/=> \//{ print $3 }'); do
  dpkg -S "$library" 2>/dev/null || dpkg -S "$(readlink -f "$library")" 2>/dev/null || dpkg -S "/usr$library" 2>/dev/null || true
done | cut -d: -f1 | sort -u)"
# The packages and their dependencies, as installed here.
packages="$(
  { echo "$node_package"; apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances "${wanted[@]}" $linked 2>/dev/null | grep -v '^[ <]'; } | sort -u
)"
versions="$(for package in $packages; do dpkg-query -W -f='${Package}=${Version}\n' "$package" 2>/dev/null || true; done)"
key="$( { echo "$kind"; echo "$versions"; sha256sum "$node_binary"; cat "$0"; } | sha256sum | cut -c1-16)"
archive="$cache_dir/base-$kind-$key.tar"

if [ ! -f "$archive" ]; then
  mkdir -p "$cache_dir"
  work="$(mktemp -d "${TMPDIR:-/var/tmp}/pygmy-base.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  root="$work/root"
  mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/usr/lib64" "$root/usr/sbin"
  # Debian 12 merges /bin into /usr/bin: keep that shape, and list every path under /usr.
  ln -s usr/bin "$root/bin"; ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"; ln -s usr/sbin "$root/sbin"
  for package in $packages; do dpkg -L "$package" 2>/dev/null || true; done \
    | grep '^/' | grep -v -E '^/usr/share/(doc|man|info|locale)/' \
    | sed -E 's#^/(bin|lib|lib64|sbin)(/|$)#/usr/\1\2#' | sort -u > "$work/files"
  # Only what exists (dpkg lists diversions and removed conffiles too).
  while IFS= read -r path; do if [ -e "$path" ] || [ -L "$path" ]; then echo "${path#/}"; fi; done < "$work/files" > "$work/present"
  tar -C / --no-recursion -cf - -T "$work/present" | tar -C "$root" -xf -
  # Alternatives (cc, c++, …) that point at files we copied.
  mkdir -p "$root/etc/alternatives"
  for link in /etc/alternatives/*; do
    if [ -L "$link" ] && [ -e "$root$(readlink "$link")" ]; then cp -P "$link" "$root/etc/alternatives/"; fi
  done
  for link in /usr/bin/* /usr/sbin/*; do
    if [ -L "$link" ] && [ -L "$root$(readlink "$link")" ] && [ "$(dirname "$(readlink "$link")")" = /etc/alternatives ]; then
      cp -P "$link" "$root$link"
    fi
  done
  # npm as this machine runs it (it may have been upgraded past the version its package shipped).
  npm_directory="$(dirname "$(dirname "$node_binary")")/lib/node_modules/npm"
  rm -rf "$root$npm_directory"
  tar -C / -cf - "${npm_directory#/}" | tar -C "$root" -xf -
  mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/root" "$root/home/node" "$root/run" "$root/var/tmp" "$root/usr/etc"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\nupdate-notifier=false\nfund=false\naudit=false\n' > "$root/usr/etc/npmrc"
  printf 'root:x:0:0:root:/root:/bin/bash\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' > "$root/etc/group"
  chown 1000:1000 "$root/home/node"
  printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
  printf 'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n' > "$root/etc/os-release"
  ldconfig -r "$root"
  tar -C "$root" -cf "$archive.partial" .
  # One archive per kind: one made from older packages is of no more use.
  find "$cache_dir" -maxdepth 1 -name "base-$kind-*.tar" -delete
  mv "$archive.partial" "$archive"
fi

if ! podman image exists "$tag"; then
  podman import --change 'CMD ["node"]' --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
    "$archive" "$tag" >/dev/null
fi
echo "$tag"
