#!/usr/bin/env bash
# Install every Debian package sweeprun's build, tests and benchmarks need.
# Safe to re-run; needs root (or sudo) on Debian 12.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates curl
  libopenblas-openmp-dev libopenmpi-dev openmpi-bin
  # oneDNN: the CPU backend's GEMMs and convolutions (compute/dnn_cpu.c)
  libdnnl-dev
  libhdf5-dev hdf5-tools libinih-dev libcmocka-dev zlib1g-dev
  # the sweep's event log (OUT/events.jsonl): written and read with cJSON;
  # tests/cli_sweep_watch.sh checks the live view with pyte (a terminal
  # emulator) and reads the log with Python's json module
  libcjson-dev python3 python3-pyte
  # sweepreport figures (PLplot + its cairo PNG driver, a font) and PNG input of sweeprun predict
  libplplot-dev plplot-driver-cairo fonts-dejavu-core libpng-dev
  # sweepreport --compare: the Student t distribution (gsl_cdf_tdist_P / Pinv)
  libgsl-dev
  # the cluster tests: a one-node Slurm started inside tests/cli_slurm.sh
  # (srun --mpi=pmix comes with slurm-wlm-basic-plugins), and two network
  # namespaces joined by a veth pair in tests/cli_two_node.sh (ip, unshare)
  slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge iproute2 util-linux
  # the fuzz build (scripts/fuzz.sh): clang 14; libFuzzer and clang's
  # sanitizer runtimes are in libclang-rt-14-dev, only a Recommends of clang
  # (so absent under --no-install-recommends), as is clang's OpenMP runtime
  # (libomp-14-dev); llvm-14 has llvm-symbolizer for readable stacks. The
  # ASan build (scripts/test_sanitize.sh) uses gcc, whose libasan/libubsan
  # come with build-essential.
  clang libclang-rt-14-dev libomp-14-dev llvm-14
)
if [[ "${SWEEPRUN_WITH_TORCH:-0}" == 1 ]]; then
  # PyTorch 1.13 / torchvision 0.14 from Debian, for the CPU comparison
  # benchmark and the PyTorch twins / load check (scripts/bench) only.
  packages+=(python3-torch python3-numpy python3-torchvision python3-h5py)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all packages present"
