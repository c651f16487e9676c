#!/usr/bin/env bash
# Put the four MNIST files in data/mnist (or $1), verified by SHA-256.
# Uses an existing copy when one is found ($MNIST_DIR, data/mnist,
# ../shared/data/mnist), otherwise downloads from the public mirrors.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-data/mnist}"

sums="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609  train-images-idx3-ubyte.gz
3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c  train-labels-idx1-ubyte.gz
8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6  t10k-images-idx3-ubyte.gz
f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6  t10k-labels-idx1-ubyte.gz"
mirrors=(
  "https://ossci-datasets.s3.amazonaws.com/mnist"
  "https://storage.googleapis.com/cvdf-datasets/mnist"
  "http://yann.lecun.com/exdb/mnist"
)

verify() (cd "$1" && echo "$sums" | sha256sum --check --quiet --status 2>/dev/null)

for candidate in "${MNIST_DIR:-}" "$dest" ../shared/data/mnist; do
  [[ -n "$candidate" && -d "$candidate" ]] || continue
  if verify "$candidate"; then
    if [[ "$(realpath "$candidate")" != "$(realpath -m "$dest")" ]]; then
      mkdir -p "$dest"
      for f in $(echo "$sums" | awk '{print $2}'); do cp "$candidate/$f" "$dest/$f"; done
    fi
    echo "fetch-mnist: verified MNIST in $dest (from $candidate)"
    exit 0
  fi
done

mkdir -p "$dest"
for f in $(echo "$sums" | awk '{print $2}'); do
  ok=0
  for m in "${mirrors[@]}"; do
    if curl -fsSL --retry 2 -o "$dest/$f.part" "$m/$f"; then
      mv "$dest/$f.part" "$dest/$f"
      ok=1
      break
    fi
  done
  if ((!ok)); then
    echo "fetch-mnist: could not download $f from any mirror (${mirrors[*]})" >&2
    exit 1
  fi
done
if ! verify "$dest"; then
  echo "fetch-mnist: SHA-256 mismatch in $dest; delete the folder and retry" >&2
  (cd "$dest" && echo "$sums" | sha256sum --check) >&2 || true
  exit 1
fi
echo "fetch-mnist: downloaded and verified MNIST in $dest"
