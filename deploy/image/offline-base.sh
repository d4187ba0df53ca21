#!/usr/bin/env bash
# Builds a distroless-like runtime base image from this machine's own files, for builders that cannot
# pull from a registry: the shared libraries the given binaries link (glibc, libgcc), CA certificates
# for HTTPS to the hub, a nonroot user (65532, as distroless has) and a writable /tmp. Nothing is
# downloaded. Use it as Dockerfile.cpu's RUNTIME_IMAGE (see docs/deployment.md).
# Usage: deploy/image/offline-base.sh TAG BINARY...   (podman, or docker with BUILDER=docker)
set -euo pipefail
tag=${1:?usage: offline-base.sh TAG BINARY...}
shift
[ $# -gt 0 ] || { echo "offline-base.sh: name the binaries whose libraries the base must hold" >&2; exit 2; }
builder=${BUILDER:-podman}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$ctx/home/nonroot"
chmod 1777 "$root/tmp"

# Every library ldd resolves for the binaries, plus libgcc_s (glibc dlopens it for thread cancellation).
libs=$(for b in "$@"; do ldd "$b" 2>/dev/null | grep -o '/[^ ]*' || true; done
       ldconfig -p | grep -o '/[^ ]*/libgcc_s\.so\.1$' | head -n 1)
for lib in $(printf '%s\n' $libs | sort -u); do
  [ -e "$lib" ] || continue
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"

cat > "$ctx/Containerfile" <<'CONTAINERFILE'
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 home/ /home/
ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
CONTAINERFILE
"$builder" build --quiet -t "$tag" "$ctx" >/dev/null
echo "offline-base.sh: built $tag from $(printf '%s\n' $libs | sort -u | wc -l) libraries of this machine"
