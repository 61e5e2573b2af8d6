#!/bin/sh
# The two commands of the README, on a fresh machine with only Python 3.10+:
#   sh dev.sh demo    the whole loop on examples/ against a redis-server it starts itself
#   sh dev.sh test    the whole test suite
# and for developers:
#   sh dev.sh coverage [pytest args]   the tests under coverage.py (pyproject.toml's
#                     [tool.coverage]), then the report per module and the total
# Each creates .venv (once) and installs the package with its test extra into it.
# PYTHON picks the interpreter and VENV the directory (.ci/run uses both for its
# floors and newest runs); pip's own PIP_CONSTRAINT pins versions.
set -eu
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
say() { echo "dev.sh: $*" >&2; }
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $("$PY" --version 2>&1) ($PY)"
    "$PY" -m venv "$VENV" || {
        echo "python3 -m venv failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
        exit 1
    }
fi
if ! "$VENV/bin/python" -c "import redbeat_sync, redbeat, pytest" 2>/dev/null \
   || [ pyproject.toml -nt "$VENV/.installed" ]; then
    say "upgrading pip in $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    say "installing redbeat-sync (editable) with its test extra into $VENV;" \
        "the first time this downloads ~60 packages (1-2 min), one line each:"
    # One line per package instead of pip's -q silence; the whole output goes to a log
    # (sh has no pipefail, so pip's exit status travels through a file).
    log="$VENV/pip-install.log"
    { "$VENV/bin/python" -m pip install --progress-bar off -e ".[test]" 2>&1
      echo "$?" >"$VENV/.pip-status"; } | tee "$log" \
        | grep -E '^(Collecting|Successfully installed|ERROR)' | cut -c1-100 >&2 || true
    status=$(cat "$VENV/.pip-status")
    if [ "$status" != 0 ]; then
        say "pip install failed (exit $status); the last lines of $log:"
        tail -n 20 "$log" >&2
        exit 1
    fi
    touch "$VENV/.installed"
    say "installed; running: $*"
fi
case "${1:-}" in
    demo) shift; exec "$VENV/bin/python" -m devsupport.demo "$@" ;;
    test) shift; exec "$VENV/bin/python" -m pytest "$@" ;;
    coverage)
        shift
        # The report comes even when a test fails; the exit status is pytest's.  No
        # threshold: the figures are for reading.  `coverage html` writes the annotated
        # source to .cache/coverage/html from the same data.
        "$VENV/bin/python" -m coverage erase
        status=0
        "$VENV/bin/python" -m coverage run -m pytest "$@" || status=$?
        # combine and report fail when no process saved any data (no test ran)
        "$VENV/bin/python" -m coverage combine -q && "$VENV/bin/python" -m coverage report \
            || [ "$status" != 0 ] || status=1
        exit "$status" ;;
    *) echo "usage: sh dev.sh demo|test|coverage [args...]" >&2; exit 2 ;;
esac
