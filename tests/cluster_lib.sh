# Shared by the cluster tests (cli_slurm.sh, cli_two_node.sh), sourced after
# cli_lib.sh. They start daemons or make network namespaces, so they need
# root and packages a developer may not have: a missing prerequisite skips
# the test (ctest's code 77) there, but fails it in CI (CI=true), where
# scripts/setup.sh installs everything and the tests must really run.

prereq_missing() {
  if [[ "${CI:-}" == true ]]; then
    echo "FAIL: $* (CI=true: the cluster tests must run, not skip)"
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}

need_root() {
  [[ $(id -u) -eq 0 ]] || prereq_missing "needs root (it starts daemons / makes network namespaces)"
}

need_commands() {  # need_commands CMD...
  local c
  for c; do
    command -v "$c" >/dev/null || prereq_missing "$c not found (scripts/setup.sh installs it)"
  done
}

# A TCP port nobody listens on (ss is in iproute2).
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    [[ -z "$(ss -Htln "sport = :$p")" ]] && { echo "$p"; return; }
  done
}

# wait_for SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds;
# 1 if it never did in time.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# The pids of processes whose environment holds the line $1 (exactly).
pids_with_env() {
  local d
  for d in /proc/[0-9]*; do
    [[ "${d#/proc/}" == "$$" ]] && continue
    { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qxF -- "$1" && echo "${d#/proc/}"
  done
}

# Is pid $1 running (a zombie is not)?
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# Stop pid $1: SIGTERM, then SIGKILL after $2 seconds (default 10).
stop_pid() {
  local pid="$1" grace="${2:-10}"
  [[ -n "$pid" ]] && alive "$pid" || return 0
  kill "$pid" 2>/dev/null
  wait_for "$grace" eval "! alive $pid" || kill -9 "$pid" 2>/dev/null
}

# Keep Open MPI's files of this test's ranks in the test's folder: a rank
# that is killed (as these tests do) leaves its shared-memory segment
# (/dev/shm/vader_segment.*) and session folder (/tmp/ompi.HOST.UID) behind.
private_mpi_files() {  # private_mpi_files DIR
  mkdir -p "$1/shm" "$1/session"
  export OMPI_MCA_btl_vader_backing_directory="$1/shm" OMPI_MCA_orte_tmpdir_base="$1/session"
}
