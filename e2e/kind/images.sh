#!/usr/bin/env bash
# Builds the project's container images: acr-refresher, fake-metadata, fake-acr.
#
#   e2e/kind/images.sh [--engine docker|podman] [NAME...]     (default: all three)
#
# Each image is one statically linked release binary on an empty base (the Containerfiles). Prints
# one line per image, `NAME=REF`, on stdout; everything else goes to stderr. Images are tagged
#   localhost/acr-refresher/NAME:dev         (what e2e/kind/ manifests use)
#   localhost/acr-refresher/NAME:src-HASH    (HASH = the image's source inputs)
# A build is skipped when an image for the current source hash already exists (cache and lock under
# ${XDG_CACHE_HOME:-~/.cache}/acr-refresher/), so tests and recipes can call this freely.
#
# Engine: --engine, else $ACR_CONTAINER_ENGINE, else docker if its daemon answers, else podman;
# with neither, podman (+ runc) is installed with apt-get when run as root on Debian/Ubuntu.
# Podman runs with runc and `default_ulimits = []` (containers.conf under the cache directory): the
# settings found necessary on machines with a hybrid cgroup layout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/acr-refresher"
target=x86_64-unknown-linux-gnu
all_images=(acr-refresher fake-metadata fake-acr)

say() { echo "images: $*" >&2; }
die() { echo "images: error: $*" >&2; exit 1; }

engine="${ACR_CONTAINER_ENGINE:-}"
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --engine) engine="${2:?--engine needs docker or podman}"; shift 2 ;;
    --engine=*) engine="${1#--engine=}"; shift ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) names+=("$1"); shift ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=("${all_images[@]}")

# Where each image comes from: its cargo package, Containerfile and source inputs (for the hash).
package_of() { echo "$1"; }
containerfile_of() {
  case "$1" in
    acr-refresher) echo "$root/Containerfile" ;;
    fake-metadata|fake-acr) echo "$root/fake-server-kit/Containerfile" ;;
    *) die "unknown image '$1' (known: ${all_images[*]})" ;;
  esac
}
# The fakes share one parameterised Containerfile: which fake, its variables' prefix, its ports.
build_args_of() {
  case "$1" in
    acr-refresher) ;;
    fake-metadata) echo "FAKE=fake-metadata PREFIX=FAKE_METADATA PORT=8080 ADMIN_PORT=8081" ;;
    fake-acr) echo "FAKE=fake-acr PREFIX=FAKE_ACR PORT=8443 ADMIN_PORT=8444" ;;
  esac
}
description_of() {
  case "$1" in
    fake-metadata) echo "A faithful fake of the Alibaba Cloud ECS instance metadata server" ;;
    fake-acr) echo "A faithful fake of Alibaba Cloud Container Registry" ;;
  esac
}
inputs_of() {
  local shared="Cargo.toml Cargo.lock acs-wire/Cargo.toml acs-wire/src go-duration/Cargo.toml go-duration/src"
  local kit="fake-server-kit/Cargo.toml fake-server-kit/src"
  case "$1" in
    # What the binary is built from (not tests, examples or docs); over-approximating is safe.
    acr-refresher) echo "$shared src" ;;
    fake-metadata) echo "$shared $kit fake-metadata/Cargo.toml fake-metadata/src" ;;
    fake-acr) echo "$shared $kit fake-acr/Cargo.toml fake-acr/src" ;;
  esac
}
for n in "${names[@]}"; do containerfile_of "$n" >/dev/null; done

install_podman() {
  local need=()
  command -v podman >/dev/null || need+=(podman)
  command -v runc >/dev/null || need+=(runc)
  [ ${#need[@]} -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${need[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${need[@]}" >&2 || { apt-get update -q >&2 && apt-get install -y -q "${need[@]}" >&2; }
  else
    die "no container engine: install docker or podman (+ runc), or run as root on Debian/Ubuntu"
  fi
}

if [ -z "$engine" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker; else engine=podman; fi
fi
case "$engine" in
  docker) docker info >/dev/null 2>&1 || die "docker was asked for but its daemon does not answer" ;;
  podman)
    install_podman
    mkdir -p "$cache"
    if [ -z "${CONTAINERS_CONF:-}" ]; then
      # A private temporary name and an atomic rename: concurrent runs (parallel tests) are safe.
      printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' > "$cache/containers.conf.$$"
      mv -f "$cache/containers.conf.$$" "$cache/containers.conf"
      export CONTAINERS_CONF="$cache/containers.conf"
    fi
    ;;
  *) die "unknown engine '$engine' (docker or podman)" ;;
esac

source_hash() {
  # Tracked and untracked-but-not-ignored files of the image's inputs, plus this script.
  (cd "$root" && {
    # shellcheck disable=SC2046
    git ls-files -co --exclude-standard -- $(inputs_of "$1") | LC_ALL=C sort | while read -r f; do
      [ -f "$f" ] && printf '%s\0' "$f" && cat "$f"
    done
    cat "$(containerfile_of "$1")" e2e/kind/images.sh
  } | sha256sum | cut -c1-16)
}

mkdir -p "$cache/images"
exec 9>"$cache/images.lock"
if ! flock -n 9; then
  say "waiting for another image build (lock $cache/images.lock)"
  flock 9
fi

image_exists() { "$engine" image inspect "$1" >/dev/null 2>&1; }

todo=()
declare -A hash_of
for n in "${names[@]}"; do
  h="$(source_hash "$n")"
  hash_of[$n]="$h"
  ref="localhost/acr-refresher/$n:src-$h"
  if [ -f "$cache/images/$engine-$n-$h" ] && image_exists "$ref"; then
    say "$n: up to date ($ref)"
  else
    todo+=("$n")
  fi
done

if [ ${#todo[@]} -gt 0 ]; then
  # Static glibc binaries, built for an explicit --target so these RUSTFLAGS never touch the
  # ordinary target/debug and target/release builds.
  pkgs=()
  for n in "${todo[@]}"; do pkgs+=(-p "$(package_of "$n")"); done
  say "cargo build --release --target $target ${pkgs[*]} (static)"
  started=$(date +%s)
  (cd "$root" && RUSTFLAGS="-C target-feature=+crt-static" "${CARGO:-cargo}" build --release \
    --target "$target" "${pkgs[@]}" >&2)
  say "cargo build took $(( $(date +%s) - started ))s"
  for n in "${todo[@]}"; do
    bin="$root/target/$target/release/$n"
    [ -x "$bin" ] || die "$bin was not built"
    if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q 'statically linked'; then
      die "$bin is dynamically linked; an image on an empty base needs a static binary"
    fi
    ctx="$cache/context/$n"
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp "$bin" "$ctx/$n"
    ref="localhost/acr-refresher/$n:src-${hash_of[$n]}"
    say "$engine build $ref ($(du -h "$ctx/$n" | cut -f1) binary)"
    args=()
    for a in $(build_args_of "$n"); do args+=(--build-arg "$a"); done
    [ ${#args[@]} -eq 0 ] || args+=(--build-arg "DESCRIPTION=$(description_of "$n")")
    if [ "$engine" = podman ]; then
      # --timestamp 0: the same binary gives the same image id.
      podman build --quiet --timestamp 0 -f "$(containerfile_of "$n")" "${args[@]}" \
        -t "$ref" -t "localhost/acr-refresher/$n:dev" "$ctx" >&2
    else
      SOURCE_DATE_EPOCH=0 docker build --quiet -f "$(containerfile_of "$n")" "${args[@]}" \
        -t "$ref" -t "localhost/acr-refresher/$n:dev" "$ctx" >&2
    fi
    touch "$cache/images/$engine-$n-${hash_of[$n]}"
  done
fi

for n in "${names[@]}"; do
  ref="localhost/acr-refresher/$n:src-${hash_of[$n]}"
  # The :dev tag follows the image of the current sources.
  "$engine" tag "$ref" "localhost/acr-refresher/$n:dev" >&2
  echo "$n=$ref"
done
