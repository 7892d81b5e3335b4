#!/bin/sh
# containerd's registry configuration for fake-acr: for each HOST, CERTS_DIR/HOST/hosts.toml that
# sends pulls to https://HOST itself and trusts the CA certificate at CA_PATH (fake-acr's test CA).
#
#   containerd-hosts.sh CERTS_DIR CA_PATH HOST...
#
#   CERTS_DIR  containerd's registry config_path, e.g. /etc/containerd/certs.d (created if missing)
#   CA_PATH    the CA certificate's path as containerd sees it, e.g. /etc/acr-conformance/ca.crt
#              (written into the files as is; the file need not exist yet)
#   HOST       a registry host name fake-acr serves, e.g. registry.cn-hangzhou.aliyuncs.com
#
# POSIX sh, no tool but mkdir, so it also runs inside a kind node, piped in:
#   docker exec -i NODE sh -s -- /etc/containerd/certs.d /etc/acr-conformance/ca.crt HOST... \
#     < e2e/kind/containerd-hosts.sh
# Used by e2e/kind/run.sh (kind nodes) and e2e/tests/containerd_pull.rs (a private containerd with
# `ctr images pull --hosts-dir CERTS_DIR`). Existing hosts.toml files of these hosts are replaced.
set -eu

usage() {
  echo "usage: containerd-hosts.sh CERTS_DIR CA_PATH HOST..." >&2
  exit 2
}

[ $# -ge 3 ] || usage
certs_dir=$1
ca_path=$2
shift 2

case "$ca_path" in
  *'"'* | *\\*) printf 'containerd-hosts.sh: CA_PATH must not contain quotes or backslashes: %s\n' "$ca_path" >&2; exit 2 ;;
esac

for host in "$@"; do
  # A host name becomes a directory name and a TOML string: letters, digits, dots, dashes only.
  case "$host" in
    '' | *[!A-Za-z0-9.-]* | .* )
      printf "containerd-hosts.sh: not a host name: '%s'\n" "$host" >&2
      exit 2
      ;;
  esac
  mkdir -p "$certs_dir/$host"
  # The top-level ca covers the `server` fallback too: containerd tries it after a refused host
  # entry, and without the CA its error would read "x509: unknown authority" instead of the 401.
  printf '%s\n' \
    "server = \"https://$host\"" \
    "ca = \"$ca_path\"" \
    "[host.\"https://$host\"]" \
    '  capabilities = ["pull", "resolve"]' \
    "  ca = \"$ca_path\"" \
    > "$certs_dir/$host/hosts.toml"
done
