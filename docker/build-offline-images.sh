#!/usr/bin/env bash
# Build every image the container stack needs without any container registry.
#
#   docker/build-offline-images.sh            build what is missing or out of date
#   docker/build-offline-images.sh --force    rebuild everything (downloads are kept)
#   docker/build-offline-images.sh --list     print the image names and exit
#   docker/build-offline-images.sh --remove   remove the images this script builds
#
# 1. base: a Debian root filesystem made by debootstrap (installed with apt-get when
#    missing), imported with `docker import`: python3, python3-venv, tini, ca-certificates.
# 2. On the host: wheelhouses (`pip download`, binary wheels for CPython 3.11 on
#    manylinux x86_64) and PostgreSQL's .deb files (apt resolved against the base image).
# 3. mlflow, authproxy, moto-s3 and postgres images built FROM base with `docker build`;
#    their build contexts hold the downloads, so the builds themselves need no network.
#
# Idempotent: each image carries a label with a hash of its inputs (Dockerfile, scripts,
# requirements, the base image, the proxy's source) and is skipped when it is current.
# Image names come from docker/images.env and can be overridden by environment variables
# (ACC_BASE_IMAGE, ACC_MLFLOW_IMAGE, ACC_PROXY_IMAGE, ACC_S3_IMAGE, ACC_POSTGRES_IMAGE).
# Other settings: ACC_BUILD_CACHE (downloads and build contexts; default
# ~/.cache/mlflow-acceptance/docker), ACC_DEBIAN_MIRROR, ACC_DEBIAN_SECURITY_MIRROR,
# ACC_BUILD_PYTHON (the Python whose pip downloads the wheels; default python3).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
LABEL=org.mlflow-acceptance.inputs
RECIPE_VERSION=1

while IFS='=' read -r key value; do
    case "$key" in '' | \#*) continue ;; esac
    if [ -z "${!key:-}" ]; then export "$key=$value"; fi
done <"$HERE/images.env"

CACHE=${ACC_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlflow-acceptance/docker}
MIRROR=${ACC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${ACC_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
PYTHON=${ACC_BUILD_PYTHON:-python3}
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,tini,ca-certificates
POSTGRES_PACKAGE=postgresql-15
# Wheels for the base image's CPython 3.11 on x86_64 glibc 2.36, whatever Python runs pip here.
PIP_TARGET=(--only-binary=:all: --python-version 3.11 --implementation cp)
for tag in manylinux_2_36 manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 \
    manylinux_2_24 manylinux_2_17 manylinux2014 manylinux2010 manylinux1; do
    PIP_TARGET+=(--platform "${tag}_x86_64")
done

stage_tag() { # the tag of an image's install stage: name:tag-build
    case "${1##*/}" in *:*) echo "$1-build" ;; *) echo "$1:build" ;; esac
}

FORCE=0
case "${1:-}" in
    --force) FORCE=1 ;;
    --list)
        printf '%s\n' "$ACC_BASE_IMAGE" "$ACC_MLFLOW_IMAGE" "$ACC_PROXY_IMAGE" "$ACC_S3_IMAGE" "$ACC_POSTGRES_IMAGE"
        exit 0 ;;
    --remove)
        for image in "$ACC_MLFLOW_IMAGE" "$ACC_PROXY_IMAGE" "$ACC_S3_IMAGE" "$ACC_POSTGRES_IMAGE" \
            "$(stage_tag "$ACC_MLFLOW_IMAGE")" "$(stage_tag "$ACC_PROXY_IMAGE")" "$(stage_tag "$ACC_S3_IMAGE")" \
            "$ACC_BASE_IMAGE"; do
            docker image rm "$image" >/dev/null 2>&1 && echo "removed $image" || true
        done
        exit 0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    '') ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 64 ;;
esac

now_ms() { date +%s%3N; }
START_MS=$(now_ms)
elapsed() { local ms=$(($(now_ms) - $1)); printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)); }
say() { echo "build-offline-images: $*"; }
die() { echo "build-offline-images: error: $*" >&2; exit 1; }

mkdir -p "$CACHE/logs" "$CACHE/context"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"

image_label() { docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }
image_id() { docker image inspect -f '{{ .Id }}' "$1"; }
hash_of() { sha256sum | cut -c1-32; }
# Hash of a folder's files (names and contents), in a stable order.
hash_dir() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | hash_of; }

current() { # image inputs-hash -> true if the image exists with that hash and no --force
    [ "$FORCE" = 0 ] && [ "$(image_label "$1" "$LABEL")" = "$2" ]
}

# Run a long command with its output in a log file; show the log's end if it fails.
logged() {
    local log=$1; shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "'$*' failed; full log: $log"
    fi
}

# --- 1. base image ---------------------------------------------------------------------
build_base() {
    local inputs t0 rootfs
    inputs=$(printf '%s\n' "$RECIPE_VERSION" "$SUITE" "$BASE_PACKAGES" | hash_of)
    if current "$ACC_BASE_IMAGE" "$inputs"; then say "$ACC_BASE_IMAGE is current"; return; fi
    t0=$(now_ms)
    [ "$(id -u)" = 0 ] || die "building the base image needs root (debootstrap); run as root"
    if ! command -v debootstrap >/dev/null; then
        say "installing debootstrap"
        logged "$CACHE/logs/apt-debootstrap.log" sh -c \
            'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap'
    fi
    rootfs="$CACHE/rootfs.tmp"
    rm -rf "$rootfs"
    say "debootstrap $SUITE ($BASE_PACKAGES) from $MIRROR"
    logged "$CACHE/logs/debootstrap.log" debootstrap --variant=minbase --include="$BASE_PACKAGES" \
        "$SUITE" "$rootfs" "$MIRROR"
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/*
    tar -C "$rootfs" -c . | docker import \
        --change "LABEL $LABEL=$inputs" \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' \
        - "$ACC_BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    say "built $ACC_BASE_IMAGE in $(elapsed "$t0")"
}

# --- 2. downloads on the host ----------------------------------------------------------
download_wheels() { # name: wheels for docker/<name>/requirements.txt into its build context
    local name=$1 dir stamp t0
    dir="$CACHE/context/$name/wheels"
    stamp=$(cat "$HERE/$name/requirements.txt" <(printf '%s\n' "${PIP_TARGET[@]}") | hash_of)
    if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then return; fi
    t0=$(now_ms)
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp"
    logged "$CACHE/logs/wheels-$name.log" "$PYTHON" -m pip download --disable-pip-version-check \
        --dest "$dir.tmp" "${PIP_TARGET[@]}" -r "$HERE/$name/requirements.txt"
    echo "$stamp" >"$dir.tmp/.stamp"
    mv "$dir.tmp" "$dir"
    say "downloaded wheels for $name in $(elapsed "$t0")"
}

download_postgres_debs() { # .deb files PostgreSQL needs on top of the base image
    local dir stamp t0 root cid
    dir="$CACHE/context/postgres/debs"
    stamp=$(printf '%s\n' "$(image_id "$ACC_BASE_IMAGE")" "$POSTGRES_PACKAGE" | hash_of)
    if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then return; fi
    t0=$(now_ms)
    root="$CACHE/apt-root.tmp"
    rm -rf "$root" "$dir" "$dir.tmp"
    mkdir -p "$root" "$dir.tmp"
    # apt on the host, pointed at a copy of the base image's root: it resolves exactly the
    # packages the image lacks. Nothing is installed anywhere.
    cid=$(docker create "$ACC_BASE_IMAGE" true)
    docker export "$cid" | tar -x -C "$root" --exclude='dev/*'
    docker rm "$cid" >/dev/null
    local apt=(apt-get -q -o "Dir=$root" -o "Dir::State::status=$root/var/lib/dpkg/status"
        -o Debug::NoLocking=1 -o "Dir::Cache::archives=$dir.tmp/")
    logged "$CACHE/logs/debs-postgres.log" sh -c '"$@" update && "$@" -y install --download-only \
        --no-install-recommends '"$POSTGRES_PACKAGE" sh "${apt[@]}"
    rm -rf "$root" "$dir.tmp/partial" "$dir.tmp/lock"
    echo "$stamp" >"$dir.tmp/.stamp"
    mv "$dir.tmp" "$dir"
    say "downloaded $(ls "$dir" | grep -c '\.deb$') .deb files for postgres in $(elapsed "$t0")"
}

# --- 3. images built FROM base ---------------------------------------------------------
build_image() { # name image [extra files for the context...]
    local name=$1 image=$2 ctx inputs t0 extra args=()
    shift 2
    ctx="$CACHE/context/$name"
    mkdir -p "$ctx"
    cp -p "$HERE/$name"/* "$ctx/"
    for extra in "$@"; do cp -p "$extra" "$ctx/"; done
    chmod 0755 "$ctx"/*.sh 2>/dev/null || true  # whatever mode the checkout gave them
    inputs=$( (hash_dir "$HERE/$name"; cat "$@" /dev/null; image_id "$ACC_BASE_IMAGE"; echo "$RECIPE_VERSION"
        cat "$ctx"/wheels/.stamp "$ctx"/debs/.stamp 2>/dev/null || true) | hash_of)
    if current "$image" "$inputs"; then say "$image is current"; return; fi
    if [ "$name" = proxy ]; then
        args=(--build-arg "AUTHPROXY_SHA256=$(sha256sum <"$REPO/fixtures/stacks/authproxy.py" | cut -d' ' -f1)")
    fi
    t0=$(now_ms)
    args+=(--build-arg "BASE_IMAGE=$ACC_BASE_IMAGE" --build-arg "ACC_INPUTS=$inputs")
    if grep -q '^FROM .* AS build$' "$ctx/Dockerfile"; then
        # The install stage is kept under its own tag: it is the build cache that makes a
        # change to a script or to metadata cost seconds instead of a reinstall.
        logged "$CACHE/logs/build-$name-stage.log" docker build --rm --force-rm "${args[@]}" \
            --target build --tag "$(stage_tag "$image")" "$ctx"
    fi
    # Labels come in as build args: `docker build --label` would add a last step, and every
    # step after a large layer is slow on fuse-overlayfs.
    logged "$CACHE/logs/build-$name.log" docker build --rm --force-rm "${args[@]}" --tag "$image" "$ctx"
    say "built $image in $(elapsed "$t0")"
}

# Downloads run in the background while the base image is made (network vs. CPU).
(download_wheels mlflow && download_wheels s3 && download_wheels proxy) &
WHEELS_PID=$!
build_base
if ! wait "$WHEELS_PID"; then die "downloading wheels failed (logs in $CACHE/logs)"; fi
download_postgres_debs

# The MLflow image is the long one (one core installing wheels); the others share the
# second core meanwhile.
build_image mlflow "$ACC_MLFLOW_IMAGE" &
MLFLOW_PID=$!
build_image s3 "$ACC_S3_IMAGE"
build_image proxy "$ACC_PROXY_IMAGE" "$REPO/fixtures/stacks/authproxy.py"
build_image postgres "$ACC_POSTGRES_IMAGE"
if ! wait "$MLFLOW_PID"; then die "building $ACC_MLFLOW_IMAGE failed"; fi

# Dangling layers of replaced images and of the build stages are not needed.
docker image prune --force --filter "label=$LABEL" >/dev/null 2>&1 || true
say "all images ready in $(elapsed "$START_MS"):"
docker image ls --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' | grep -F -e "$ACC_BASE_IMAGE" -e "$ACC_MLFLOW_IMAGE" \
    -e "$ACC_PROXY_IMAGE" -e "$ACC_S3_IMAGE" -e "$ACC_POSTGRES_IMAGE" || true
