#!/usr/bin/env bash
# Lints the SAM template (template.yaml) and the member account template (member.yaml) with
# cfn-lint and checkov, then checks them against the sample events and the code
# (scripts/check_template.py); exits non-zero on any finding.
#
# Usage: scripts/lint-template.sh [VENV_BIN]
#   VENV_BIN  directory holding cfn-lint, checkov and a python with moto (default: .venv/bin),
#             relative to the repository root or absolute.
#
# Works offline and needs no API key: checkov runs its bundled checks only.
# A check may be skipped only in the template, as a Metadata: checkov: skip:
# entry with a comment on the resource it concerns.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin="${1:-.venv/bin}"
for tool in cfn-lint checkov python; do
    if [[ ! -x "$bin/$tool" ]]; then
        echo "lint-template: $bin/$tool not found; install cfn-lint, checkov and moto into that venv (make tools)" >&2
        exit 2
    fi
done

templates=(template.yaml member.yaml)

for template in "${templates[@]}"; do
    echo "==> cfn-lint $template"
    "$bin/cfn-lint" "$template"
done

for template in "${templates[@]}"; do
    echo "==> checkov -f $template"
    # No --soft-fail: any failed check exits non-zero. --skip-download keeps checkov
    # offline (no platform policies, no API key).
    "$bin/checkov" -f "$template" --framework cloudformation --quiet --compact --skip-download
done

echo "==> check_template.py (event routing, roles, member role, organization bus)"
"$bin/python" scripts/check_template.py

echo "==> template lint clean"
