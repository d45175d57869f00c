#!/usr/bin/env bash
# moto's server is the local IAM/STS that `npm run dev`, the tests and the benchmark start.
# The machines have moto; its server extras (flask, werkzeug) are installed here when missing.
set -euo pipefail
if ! python3 -c 'import moto.server, flask, werkzeug' 2>/dev/null; then
  echo "installing moto[server] for the local IAM server" >&2
  python3 -m pip install --quiet 'moto[server]>=5,<6'
fi
