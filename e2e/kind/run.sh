#!/usr/bin/env bash
# `just e2e-kind`: the conformance suite against an implementation running in a kind cluster, judged
# by real kubelet pulls. Needs docker (or podman with KIND_EXPERIMENTAL_PROVIDER=podman), kind,
# kubectl, curl and openssl; see README "Containers, kind and testcontainers".
#
#   e2e/kind/run.sh [--image REF] [--manifest PATH] [--name NAME] [--keep] [-- SUITE-ARGS...]
#
#   --image REF      the implementation's image: every container of the manifest's Deployments is
#                    switched to it [default with yaml/: the reference, localhost/acr-refresher/acr-refresher:dev]
#   --manifest PATH  the implementation's manifest, a file or directory [default: yaml/, the reference]
#   --name NAME      kind cluster name [default: acr-conformance]; reused if it exists
#   --keep           leave the cluster running afterwards (default: delete it)
#   SUITE-ARGS       passed on to `acr-conformance run` (e.g. a scenario filter)
#
# Steps: build the images (images.sh) → create the cluster (cluster.yaml) → `kind load` the images →
# deploy the fakes (manifests/) → point CoreDNS and the node at them → install fake-acr's test CA for
# containerd and as ConfigMap kube-system/acr-test-ca → deploy the implementation → run the suite
# against it: adapter `deployment` (the suite scales the implementation's Deployment up for each
# scenario and to 0 between them), the fakes in the cluster driven through their admin NodePorts on
# 127.0.0.1, and every verdict confirmed by the node's kubelet really pulling (`--probe kubelet`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
name=acr-conformance
manifest="$root/yaml"
image=""
keep=0
suite_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image="${2:?--image needs an image reference}"; shift 2 ;;
    --manifest) manifest="${2:?--manifest needs a path}"; shift 2 ;;
    --name) name="${2:?--name needs a cluster name}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; suite_args=("$@"); break ;;
    *) echo "e2e-kind: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "== e2e-kind: $*" >&2; }
die() { echo "e2e-kind: error: $*" >&2; exit 1; }

# The fakes as manifests/ and cluster.yaml publish them.
acr_ip=198.18.0.10
acr_admin=http://127.0.0.1:30444
metadata_admin=http://127.0.0.1:30081
acr_nodeport=127.0.0.1:30443

for tool in kind kubectl curl openssl; do
  command -v "$tool" >/dev/null || die "$tool is not installed (kind mode needs kind, kubectl, curl and openssl)"
done
if [ "${KIND_EXPERIMENTAL_PROVIDER:-}" = podman ]; then
  engine=podman
else
  engine=docker
  docker info >/dev/null 2>&1 || die "the docker daemon does not answer (kind needs it; or set KIND_EXPERIMENTAL_PROVIDER=podman)"
fi
[ -e "$manifest" ] || die "implementation manifest $manifest does not exist"
if [ -z "$image" ] && [ "$(cd "$manifest" 2>/dev/null && pwd)" = "$root/yaml" ]; then
  image=localhost/acr-refresher/acr-refresher:dev
fi

work="$root/target/e2e-kind/$name"
mkdir -p "$work"
kubeconfig="$work/kubeconfig"
export KUBECONFIG="$kubeconfig"

say "images ($engine)"
refs="$("$here/images.sh" --engine "$engine")"

if kind get clusters 2>/dev/null | grep -qx "$name"; then
  say "reusing kind cluster $name"
  kind export kubeconfig --name "$name" --kubeconfig "$kubeconfig"
else
  say "creating kind cluster $name"
  kind create cluster --name "$name" --config "$here/cluster.yaml" --kubeconfig "$kubeconfig" --wait 180s
fi
cleanup() {
  if [ "$keep" = 1 ]; then
    say "cluster $name kept: export KUBECONFIG=$kubeconfig; delete with: kind delete cluster --name $name"
  else
    kind delete cluster --name "$name" >&2 || true
  fi
}
trap cleanup EXIT

say "loading images into the node"
while IFS='=' read -r image_name _; do
  archive="$work/$image_name.tar"
  "$engine" save -o "$archive" "localhost/acr-refresher/$image_name:dev"
  kind load image-archive "$archive" --name "$name"
  rm -f "$archive"
done <<<"$refs"
if [ -n "$image" ] && "$engine" image inspect "$image" >/dev/null 2>&1; then
  say "loading the implementation image $image (found locally)"
  "$engine" save -o "$work/implementation.tar" "$image"
  kind load image-archive "$work/implementation.tar" --name "$name"
  rm -f "$work/implementation.tar"
fi

say "deploying the fakes"
kubectl apply -f "$here/manifests/00-namespace.yaml"
# fake-acr's test CA, made once per cluster and kept in a Secret: a restarted fake-acr signs with
# the CA the nodes' containerd and the implementation already trust.
if ! kubectl -n acr-fakes get secret fake-acr-ca >/dev/null 2>&1; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=acr-conformance test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$work/ca.key" -out "$work/ca-issued.crt" 2>/dev/null || die "openssl could not make the test CA"
  kubectl -n acr-fakes create secret tls fake-acr-ca --cert "$work/ca-issued.crt" --key "$work/ca.key"
  rm -f "$work/ca.key"
fi
kubectl apply -f "$here/manifests/10-fake-metadata.yaml" -f "$here/manifests/20-fake-acr.yaml"
kubectl -n acr-fakes rollout restart deployment fake-metadata fake-acr >/dev/null
kubectl -n acr-fakes rollout status deployment fake-metadata fake-acr --timeout 180s

say "CoreDNS: *.aliyuncs.com → fake-acr"
kubectl apply -f "$here/manifests/30-coredns.yaml"
kubectl -n kube-system rollout restart deployment coredns >/dev/null
kubectl -n kube-system rollout status deployment coredns --timeout 180s

wait_http() { # URL: poll until it answers 2xx, with a deadline
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || die "$1 did not answer within 60 s"
    sleep 0.5
  done
}
wait_http "$acr_admin/healthz"
curl -fsS "$acr_admin/ca.pem" -o "$work/ca.crt"
grep -q "BEGIN CERTIFICATE" "$work/ca.crt" || die "fake-acr's GET /ca.pem gave no certificate"
# GET /hosts is a JSON array of names; names have no quotes or commas, so no JSON parser is needed.
hosts="$(curl -fsS "$acr_admin/hosts" | tr -d '[]" \n' | tr ',' '\n' | grep -v '^$')"
[ -n "$hosts" ] || die "fake-acr's GET /hosts listed no host"

say "nodes: /etc/hosts and containerd trust for $(wc -l <<<"$hosts") fake-acr host names"
for node in $(kind get nodes --name "$name"); do
  {
    echo "set -e"
    # /etc/hosts is a bind mount in a kind node: rewrite it in place (sed -i would replace it).
    echo "grep -v '# acr-conformance\$' /etc/hosts > /tmp/hosts.acr || true"
    echo "cat /tmp/hosts.acr > /etc/hosts"
    while read -r h; do echo "echo '$acr_ip $h # acr-conformance' >> /etc/hosts"; done <<<"$hosts"
    echo "mkdir -p /etc/acr-conformance"
    echo "cat > /etc/acr-conformance/ca.crt <<'PEM'"
    cat "$work/ca.crt"
    echo "PEM"
  } | "$engine" exec -i "$node" sh
  # containerd's hosts.toml per registry host (the same script e2e/tests/containerd_pull.rs checks
  # against a real containerd); containerd reads config_path afresh at each pull.
  # shellcheck disable=SC2046 # one argument per host name
  "$engine" exec -i "$node" sh -s -- /etc/containerd/certs.d /etc/acr-conformance/ca.crt \
    $(tr '\n' ' ' <<<"$hosts") <"$here/containerd-hosts.sh"
done

say "test CA as ConfigMap kube-system/acr-test-ca"
kubectl -n kube-system create configmap acr-test-ca --from-file=ca.crt="$work/ca.crt" \
  --dry-run=client -o yaml | kubectl apply -f -

say "deploying the implementation from $manifest${image:+ with image $image}"
kubectl apply -f "$manifest"
# custom-columns works for one object and for many (jsonpath's .items only for many).
deployments="$(kubectl get -f "$manifest" --no-headers \
  -o custom-columns=KIND:.kind,NAMESPACE:.metadata.namespace,NAME:.metadata.name |
  awk '$1 == "Deployment" { print $2 "/" $3 }')"
[ -n "$deployments" ] || die "$manifest has no Deployment"
while IFS=/ read -r ns deploy; do
  if [ -n "$image" ]; then
    kubectl -n "$ns" set image "deployment/$deploy" "*=$image"
  fi
  # Trust the test CA the usual ways: SSL_CERT_FILE (Go, OpenSSL), the reference's ACR_REFRESHER_CA_FILE.
  containers="$(kubectl -n "$ns" get deployment "$deploy" -o jsonpath='{.spec.template.spec.containers[*].name}')"
  patch='{"spec":{"template":{"spec":{"volumes":[{"name":"acr-test-ca","configMap":{"name":"acr-test-ca"}}],"containers":['
  sep=""
  for c in $containers; do
    patch+="$sep{\"name\":\"$c\",\"env\":[{\"name\":\"SSL_CERT_FILE\",\"value\":\"/etc/acr-test-ca/ca.crt\"},"
    patch+="{\"name\":\"ACR_REFRESHER_CA_FILE\",\"value\":\"/etc/acr-test-ca/ca.crt\"},"
    # The suite's time scale: token lifetimes of seconds, so renewals may be seconds apart.
    patch+="{\"name\":\"ACR_REFRESHER_MIN_RENEWAL_INTERVAL\",\"value\":\"2s\"}],"
    patch+="\"volumeMounts\":[{\"name\":\"acr-test-ca\",\"mountPath\":\"/etc/acr-test-ca\",\"readOnly\":true}]}"
    sep=","
  done
  patch+=']}}}}'
  if [ "$ns" != kube-system ]; then
    kubectl -n "$ns" create configmap acr-test-ca --from-file=ca.crt="$work/ca.crt" \
      --dry-run=client -o yaml | kubectl apply -f -
  fi
  kubectl -n "$ns" patch deployment "$deploy" --type strategic -p "$patch"
  kubectl -n "$ns" rollout status deployment "$deploy" --timeout 180s
done <<<"$deployments"

# The suite judges the first Deployment of the manifest (an add-on has one controller Deployment).
target="$(head -n 1 <<<"$deployments")"
[ "$(wc -l <<<"$deployments")" -eq 1 ] || say "the manifest has several Deployments; judging $target"
say "fakes from the host: metadata admin $metadata_admin, fake-acr $acr_nodeport (admin $acr_admin), CA $work/ca.crt"
say "running the suite against Deployment $target in $kubeconfig"
# Each scenario resets the fakes through their admin APIs (fresh account secret, its own lifetimes
# and faults), scales the Deployment up and judges by what Pods created afterwards can pull: the
# suite's own OCI pull through the NodePort, confirmed by the node's kubelet pulling in a real Pod.
# SUITE-ARGS come last, so they can narrow the scenarios (--scenarios NS,TR1) or override a default.
cd "$root"
cargo run --release -p acr-conformance -- run \
  --kubeconfig "$kubeconfig" \
  --implementation deployment \
  --deployment "$target" \
  --metadata-admin "$metadata_admin" \
  --acr-admin "$acr_admin" \
  --acr-address "$acr_nodeport" \
  --probe kubelet \
  --report-dir "$work/report" \
  "${suite_args[@]}"
