# Docker images made from Debian's packages, for machines with Docker but no
# container registry: `debootstrap` into a folder, then `docker import`. The
# tag is the cache: an image already there is not made again (delete it with
# `docker rmi TAG` to make it afresh).
#
# Sourced (by the deploy tests' helper scripts/docker-bases and by anything
# else that needs a base); defines base_image and the three images the
# deploy tests stand in for public ones with:
#
#   debian_base      a minimal Debian with CA certificates: debian:bookworm-slim
#   postgres_base    Debian's PostgreSQL behind an entrypoint that reads the
#                    official image's variables (POSTGRES_USER, POSTGRES_DB,
#                    POSTGRES_PASSWORD[_FILE], PGDATA): postgres:15
#   haproxy_base     Debian's HAProxy reading the official image's config path
#                    (/usr/local/etc/haproxy/haproxy.cfg): haproxy:2.6
#
# `docker import` takes no STOPSIGNAL: the official postgres image stops on
# SIGINT (a fast shutdown), which compose.yaml asks for (`stop_signal`).
#
# Each prints the tag it made or found. Environment: DEBIAN_SUITE (bookworm),
# DEBIAN_MIRROR (http://deb.debian.org/debian).

base_images_lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base_images_suite=${DEBIAN_SUITE:-bookworm}
base_images_mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Makes TAG from a minimal Debian with PACKAGES (comma separated, may be empty)
# unless TAG exists. HOOK (a function name or "") runs on the folder before
# the import; the remaining arguments are `docker import --change` lines.
# Prints the tag on stdout, progress on stderr.
base_image() {
    local tag=$1 packages=$2 hook=$3
    shift 3
    if docker image inspect "$tag" >/dev/null 2>&1; then
        echo "$tag"
        return 0
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        # shellcheck source=packages.sh
        source "$base_images_lib_dir/packages.sh"
        apt_install debootstrap >&2
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    local root
    root=$(mktemp -d "${TMPDIR:-/tmp}/proxyhealth-base.XXXXXX")
    echo "making $tag: debootstrap $base_images_suite${packages:+ with $packages} (a few minutes, once)" >&2
    local include=()
    if [ -n "$packages" ]; then include=("--include=$packages"); fi
    if ! $sudo debootstrap --variant=minbase "${include[@]}" "$base_images_suite" "$root" \
        "$base_images_mirror" >"$root.log" 2>&1; then
        tail -n 30 "$root.log" >&2
        $sudo rm -rf "$root" "$root.log"
        return 1
    fi
    # what an image need not carry: package lists, downloaded packages, docs
    $sudo rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
        "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* "$root"/usr/share/man/*
    if [ -n "$hook" ]; then "$hook" "$root"; fi
    local changes=()
    local change
    for change in "$@"; do changes+=(--change "$change"); done
    local imported=0
    $sudo tar -C "$root" -c . | docker import "${changes[@]}" \
        --message "debootstrap $base_images_suite${packages:+ + $packages}" - "$tag" >/dev/null ||
        imported=$?
    $sudo rm -rf "$root" "$root.log"
    if [ "$imported" -ne 0 ]; then
        echo "docker import of $tag failed" >&2
        return 1
    fi
    echo "$tag"
}

# debian:bookworm-slim's stand-in: what the image's build stage needs (a
# shell, getent, CA certificates).
debian_base() {
    base_image "proxyhealth-local/debian:$base_images_suite" "ca-certificates" "" \
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        'CMD ["bash"]'
}

# The PostgreSQL image's folder: the official image's entrypoint behaviour in
# a small script, a data folder owned by postgres, no cluster of Debian's own.
postgres_hook() {
    local root=$1 sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo rm -rf "$root"/var/lib/postgresql/* "$root"/etc/postgresql/*
    $sudo install -m 0755 "$base_images_lib_dir/postgres-entrypoint.sh" \
        "$root/usr/local/bin/docker-entrypoint.sh"
    $sudo mkdir -p "$root/var/lib/postgresql/data" "$root/run/postgresql"
    $sudo chroot "$root" chown -R postgres:postgres /var/lib/postgresql /run/postgresql
    $sudo chmod 0700 "$root/var/lib/postgresql/data"
}

# postgres:15's stand-in, from Debian's postgresql package (15 on bookworm).
postgres_base() {
    local bin
    bin=/usr/lib/postgresql/15/bin
    base_image "proxyhealth-local/postgres:$base_images_suite" "postgresql" postgres_hook \
        "ENV PATH=$bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        'ENV PGDATA=/var/lib/postgresql/data' \
        'USER postgres' \
        'VOLUME /var/lib/postgresql/data' \
        'EXPOSE 5432' \
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
        'CMD ["postgres"]'
}

# haproxy:2.6's stand-in, from Debian's haproxy package (2.6 on bookworm): the
# same config path, in the foreground, as the haproxy user.
haproxy_hook() {
    local root=$1 sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo mkdir -p "$root/usr/local/etc/haproxy"
}

haproxy_base() {
    base_image "proxyhealth-local/haproxy:$base_images_suite" "haproxy" haproxy_hook \
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        'USER haproxy' \
        'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]'
}
