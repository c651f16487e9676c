#!/usr/bin/env bash
# Runs HERE (a Debian 12 machine with the project's dependencies installed):
# copies into .gpukit/ (ignored by git) what the minimal GPU build needs and
# a bare CUDA image lacks, so scripts/gpu/check.sh can build and test there
# without apt or a network:
#   include/  cblas.h openblas_config.h f77blas.h (OpenBLAS, OpenMP build),
#             cmocka.h, zlib.h zconf.h, oneapi/dnnl/*.h (oneDNN)
#   lib/      libopenblas.so.0 and its Fortran runtime (libgfortran.so.5,
#             libquadmath.so.0), libdnnl.so.2 (the CPU backend's GEMMs and
#             convolutions) and its libOpenCL.so.1, libcmocka.so.0,
#             libz.so.1 - gzipped, since
#             the kit travels within a 64 MiB limit (check.sh unpacks them)
#   mnist/    the four MNIST .gz files (from $MNIST_DIR, data/mnist or
#             ../shared/data/mnist)
# Debian 12's libraries need glibc >= 2.34 (Ubuntu 22.04 and later have it).
# usage: scripts/gpu/make_kit.sh   then carry .gpukit with the GPU call.
set -euo pipefail
cd "$(dirname "$0")/../.."
kit=.gpukit
arch="$(gcc -print-multiarch)"
rm -rf "$kit"
mkdir -p "$kit/include" "$kit/lib" "$kit/mnist"

copy() {  # copy SRC DEST_DIR: the file (following links), or fail naming the Debian package
  local src="$1" dst="$2" pkg="$3"
  if [[ ! -e "$src" ]]; then
    echo "make_kit: $src missing (Debian package $pkg; scripts/setup.sh installs it)" >&2
    exit 2
  fi
  cp -L "$src" "$dst/"
}

ob_inc="/usr/include/$arch/openblas-openmp"
ob_lib="/usr/lib/$arch/openblas-openmp"
for h in cblas.h openblas_config.h f77blas.h; do copy "$ob_inc/$h" "$kit/include" libopenblas-openmp-dev; done
copy "$ob_lib/libopenblas.so.0" "$kit/lib" libopenblas0-openmp
# OpenBLAS's own dependencies that are not part of gcc's runtime everywhere.
for dep in libgfortran.so.5 libquadmath.so.0; do
  path="$(ldd "$ob_lib/libopenblas.so.0" | awk -v d="$dep" '$1 == d {print $3}')"
  [[ -n "$path" ]] && copy "$path" "$kit/lib" libgfortran5
done
mkdir -p "$kit/include/oneapi/dnnl"
for h in dnnl.h dnnl_config.h dnnl_types.h dnnl_version.h dnnl_debug.h; do
  copy "/usr/include/oneapi/dnnl/$h" "$kit/include/oneapi/dnnl" libdnnl-dev
done
copy "/usr/lib/$arch/libdnnl.so.2" "$kit/lib" libdnnl2
path="$(ldd "/usr/lib/$arch/libdnnl.so.2" | awk '$1 == "libOpenCL.so.1" {print $3}')"
[[ -n "$path" ]] && copy "$path" "$kit/lib" ocl-icd-libopencl1
copy /usr/include/cmocka.h "$kit/include" libcmocka-dev
copy "/usr/lib/$arch/libcmocka.so.0" "$kit/lib" libcmocka0
copy /usr/include/zlib.h "$kit/include" zlib1g-dev
copy /usr/include/zconf.h "$kit/include" zlib1g-dev
copy "/lib/$arch/libz.so.1" "$kit/lib" zlib1g
gzip -9 "$kit"/lib/*

mnist=""
for d in "${MNIST_DIR:-}" data/mnist ../shared/data/mnist /work/shared/data/mnist; do
  if [[ -n "$d" && -f "$d/t10k-labels-idx1-ubyte.gz" ]]; then mnist="$d"; break; fi
done
if [[ -z "$mnist" ]]; then
  echo "make_kit: MNIST .gz files not found (set MNIST_DIR or run scripts/fetch-mnist.sh)" >&2
  exit 2
fi
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  cp "$mnist/$f.gz" "$kit/mnist/"
done

(cd "$kit" && find . -type f ! -name 'MANIFEST*' | sort | xargs sha256sum) >"$kit/MANIFEST.tmp" && mv "$kit/MANIFEST.tmp" "$kit/MANIFEST"
echo "make_kit: $(du -sh "$kit" | cut -f1) in $kit ($(find "$kit" -type f | wc -l) files)"
