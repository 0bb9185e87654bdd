#!/usr/bin/env bash
# Runs this recipe from the repository root (the config's relative paths are relative to it):
#   recipes/<name>/run.sh [--stage N] [--stop-stage M] [--num-proc P] [--rank R --world-size W]
# Dashed (icefall style) and underscored option spellings both work: the echovox CLI accepts both.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/../.."
exec echovox recipe run "$here/config.yaml" "$@"
