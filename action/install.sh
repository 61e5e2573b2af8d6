#!/usr/bin/env bash
# The action's own Python environment, under the action's directory, so the job that
# uses the action keeps its Python, its packages and its PATH exactly as they were.
#
#   bash install.sh key       print the cache key: runner OS, Python version, pins
#   bash install.sh install   create the venv (once per key) and install redbeat-sync
#
# In: PYTHON (setup-python's python-path, with update-environment: false),
# GITHUB_ACTION_PATH, GITHUB_OUTPUT.  Out (install): python=<the venv's interpreter>.
# Every dependency version comes from action/constraints.txt, so a given action ref
# always installs the same versions; pip's downloads are cached in .action-env/pip-cache
# (restored and saved by actions/cache in action.yml).
set -euo pipefail

root="$GITHUB_ACTION_PATH"
home="$root/.action-env"
venv="$home/venv"
constraints="$root/action/constraints.txt"
export PIP_CACHE_DIR="$home/pip-cache"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

key() {
    # Python does the hashing: sha256sum is not on every runner image (macOS).
    "$PYTHON" - "$constraints" "$root/pyproject.toml" <<'PY'
import hashlib, platform, sys
digest = hashlib.sha256(platform.python_version().encode())
for path in sys.argv[1:]:
    with open(path, "rb") as handle:
        digest.update(handle.read())
print(f"redbeat-sync-action-{platform.system()}-{platform.machine()}-"
      f"py{platform.python_version()}-{digest.hexdigest()[:20]}")
PY
}

venv_python() {
    if [ -x "$venv/bin/python" ]; then echo "$venv/bin/python"; else echo "$venv/Scripts/python.exe"; fi
}

install() {
    local stamp wanted
    wanted="$(key)"
    stamp="$home/installed"
    # The same job may use the action several times (validate, then plan): install once.
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -x "$(venv_python)" ]; then
        echo "redbeat-sync: reusing $venv"
    else
        rm -rf "$venv"
        "$PYTHON" -m venv "$venv"
        local python
        python="$(venv_python)"
        # The build tools are pinned too: no build isolation, which would fetch the newest.
        "$python" -m pip install --quiet --constraint "$constraints" setuptools wheel
        "$python" -m pip install --quiet --constraint "$constraints" --no-build-isolation "$root"
        echo "$wanted" > "$stamp"
    fi
    "$(venv_python)" -m redbeat_sync --version
    echo "python=$(venv_python)" >> "$GITHUB_OUTPUT"
}

case "${1:-}" in
    key) echo "key=$(key)" >> "$GITHUB_OUTPUT" ;;
    install) install ;;
    *) echo "usage: install.sh key|install" >&2; exit 1 ;;
esac
