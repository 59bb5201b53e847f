#!/bin/sh
# Anonymises personal data in a refreshed environment; the weekly UAT plan runs it after the
# refresh with the environment's name and the run id. This example only reports what it would
# do: replace the echo with your data-management job (for example a DMF import of scrambled
# customer and worker records).
set -eu
environment="$1"
run="${2#--run=}"
echo "anonymize: $environment (run $run): customers, vendors, workers and contacts scrambled"
