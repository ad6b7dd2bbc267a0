#!/usr/bin/env bash
# Lints every CloudFormation/SAM template the repository ships or generates: the monitoring
# template `vpc-proxy-ops cloudformation` builds from dashboards/ and alarms/ (fresh), and
# deploy/*.yaml / deploy/*.json (the SAM template and its committed nested monitoring stack)
# with cfn-lint, and the same files with `sam validate --lint` as a user of the SAM CLI runs
# it. cfn-lint and the SAM CLI come pinned from PyPI into the repository's .venv (created if
# missing). Neither needs AWS credentials; the SAM CLI wants a region, so one is set.
# Exits non-zero when either reports an error or a warning, or when anything fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -m cfnlint --version >/dev/null 2>&1 || [ ! -x "$venv/bin/sam" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        'cfn-lint==1.58.0' 'aws-sam-cli==1.170.0'
fi
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cargo run -q -p vpc-proxy-ops -- cloudformation --output "$tmp/monitoring.json"

templates=("$tmp/monitoring.json")
for t in deploy/*.yaml deploy/*.yml deploy/*.json; do
    [ -e "$t" ] && templates+=("$t")
done

status=0
for t in "${templates[@]}"; do
    name="$t"
    [ "$t" = "$tmp/monitoring.json" ] && name="monitoring template (vpc-proxy-ops cloudformation)"
    # Informational findings (I*) do not fail the run; errors (E*) and warnings (W*) do.
    if "$venv/bin/cfn-lint" --format parseable --ignore-checks I -- "$t"; then
        echo "cfn-lint ok: $name"
    else
        echo "cfn-lint FAILED: $name" >&2
        status=1
    fi
    if "$venv/bin/sam" validate --lint --template-file "$t" >"$tmp/sam.out" 2>&1; then
        echo "sam validate --lint ok: $name"
    else
        cat "$tmp/sam.out" >&2
        echo "sam validate --lint FAILED: $name" >&2
        status=1
    fi
done
exit "$status"
