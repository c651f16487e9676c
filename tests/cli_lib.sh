# Shared prelude of the tests/cli_*.sh tests, sourced by each (ctest skips
# this file). Provides: $bin (the sweeprun binary), $work (a temporary folder,
# removed on exit), check NAME COMMAND..., need_mnist, need_mpirun, attr
# FILE NAME (a root attribute's value), and finish (the summary line and
# exit status).
set -uo pipefail
bin="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
passed=0

check() {  # check NAME COMMAND...
  local name="$1"; shift
  if "$@" >"$work/check.out" 2>&1; then echo "ok   $name"; passed=$((passed + 1))
  else echo "FAIL $name: $(head -c 2000 "$work/check.out")"; failures=$((failures + 1)); fi
}

need_mnist() {
  if [[ ! -d "${MNIST_DIR:-}" ]]; then
    echo "MNIST_DIR not set or missing; run scripts/fetch-mnist.sh"
    exit 1
  fi
}

need_mpirun() {
  if ! command -v mpirun >/dev/null; then
    echo "mpirun not found (Debian: openmpi-bin)"
    exit 1
  fi
  if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
  # Two ranks on this machine, whatever its cores (the tests' usual launcher).
  mpi=(mpirun -np 2 --oversubscribe --bind-to none)
}

attr() { h5dump -a "/$2" "$1" | grep -m1 '(0)' | sed 's/.*(0): *//; s/"//g'; }

finish() {
  echo "$passed passed, $failures failed"
  [[ $failures -eq 0 ]]
}
