#!/bin/sh
# The two commands of the README, on a fresh machine with only Python 3.10+:
#   sh dev.sh demo    the whole loop on examples/ against a redis-server it starts itself
#   sh dev.sh test    the whole test suite
# Both create .venv (once) and install the package with its test extra into it.
set -eu
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv || {
        echo "python3 -m venv failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
        exit 1
    }
fi
if ! .venv/bin/python -c "import redbeat_sync, redbeat, pytest" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[test]"
    touch .venv/.installed
fi
case "${1:-}" in
    demo) shift; exec .venv/bin/python -m devsupport.demo "$@" ;;
    test) shift; exec .venv/bin/python -m pytest "$@" ;;
    *) echo "usage: sh dev.sh demo|test [args...]" >&2; exit 2 ;;
esac
