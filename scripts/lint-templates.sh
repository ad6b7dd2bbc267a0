#!/usr/bin/env bash
# Lints every CloudFormation/SAM template the repository ships or generates with cfn-lint:
# the monitoring template `vpc-proxy-ops cloudformation` builds from dashboards/ and alarms/,
# and deploy/*.yaml (the SAM template; cfn-lint expands the Serverless transform itself).
# cfn-lint comes from PyPI into the repository's .venv (created if missing).
# Exits non-zero when cfn-lint reports an error or a warning, or when anything fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -m cfnlint --version >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'cfn-lint==1.58.0'
fi

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
done
exit "$status"
