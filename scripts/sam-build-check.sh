#!/usr/bin/env bash
# Builds deploy/template.yaml the way a user does (`sam build`, the SAM CLI and cargo-lambda
# from PyPI in .venv) and looks inside the artifact: the function is an arm64 `bootstrap`, and
# the configuration layer carries the files deploy/config/ holds (an allow-list, a CA bundle,
# a client certificate and key, written here for the check and removed afterwards), at the
# paths the function reads under /opt. Needs no AWS credentials. Takes a few minutes (a
# release cross-build), so CI does not run it; run it before changing the template or the
# build. Exits non-zero on the first thing missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    'aws-sam-cli==1.170.0' 'cargo-lambda==1.9.2'
export PATH="$venv/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

build="$(mktemp -d)"
probe=(sam-build-check-allowed-ips.txt sam-build-check-ca.pem sam-build-check-client.pem sam-build-check-client.key)
cleanup() {
    for f in "${probe[@]}"; do rm -f "deploy/config/$f"; done
    rm -rf "$build"
}
trap cleanup EXIT
printf '# written by scripts/sam-build-check.sh\n203.0.113.0/24\n' > "deploy/config/${probe[0]}"
printf -- '-----BEGIN CERTIFICATE-----\nsam-build-check\n-----END CERTIFICATE-----\n' > "deploy/config/${probe[1]}"
cp "deploy/config/${probe[1]}" "deploy/config/${probe[2]}"
printf -- '-----BEGIN PRIVATE KEY-----\nsam-build-check\n-----END PRIVATE KEY-----\n' > "deploy/config/${probe[3]}"

start=$(date +%s)
# Plain `sam build` from the repository root, as the README says: samconfig.toml names the
# template and turns on the Rust (cargo-lambda) builder, a SAM CLI beta feature. No input:
# a missing setting would make SAM ask, and fail here.
sam build --build-dir "$build" </dev/null
echo "sam build took $(( $(date +%s) - start )) s"

fail() { echo "sam-build-check FAILED: $*" >&2; exit 1; }
bootstrap="$build/ProxyFunction/bootstrap"
[ -f "$bootstrap" ] || fail "no ProxyFunction/bootstrap in the build"
[ -x "$bootstrap" ] || fail "bootstrap is not executable"
kind="$(file -b "$bootstrap" 2>/dev/null || true)"
if [ -n "$kind" ]; then
    case "$kind" in
        *ELF*aarch64*|*ELF*ARM\ aarch64*) ;;
        *) fail "bootstrap is not an arm64 ELF: $kind" ;;
    esac
else
    # No `file` on this machine: read the ELF header (e_machine 0xb7 = aarch64).
    machine="$(od -An -tx1 -j18 -N2 "$bootstrap" | tr -d ' \n')"
    [ "$machine" = "b700" ] || fail "bootstrap is not an arm64 ELF (e_machine $machine)"
    kind="ELF, e_machine aarch64"
fi
echo "bootstrap: $(stat -c %s "$bootstrap") bytes, $kind"

layer="$build/ConfigLayer"
[ -d "$layer" ] || fail "no ConfigLayer in the build"
for f in "${probe[@]}"; do
    cmp -s "deploy/config/$f" "$layer/$f" || fail "ConfigLayer lacks $f (the function would read /opt/$f)"
    echo "layer: $f -> /opt/$f"
done
for f in README.md Makefile .gitignore; do
    [ ! -e "$layer/$f" ] || fail "ConfigLayer carries deploy/config/$f, which is not configuration"
done
grep -q 'Location: .*monitoring' "$build/template.yaml" \
    || [ -f "$build/MonitoringStack/template.yaml" ] \
    || fail "the built template lost the monitoring stack"
echo "built template: $build/template.yaml (monitoring stack included)"
echo "sam-build-check ok"
