#!/usr/bin/env bash
# Every op declared in compute/ops.h (each op_* function) must have at least
# one row in the op-case table (a `"op_name"` in tests/op_cases.c), so that
# the finite-difference, thread-count and CUDA parity suites all check it.
# Run by the build before the tests' shared library (tests/CMakeLists.txt):
# a missing row fails the build.
# usage: check_op_cases.sh OPS_H OP_CASES_C
set -euo pipefail
ops_h=$1 cases_c=$2
declared=$(grep -oE '^[A-Za-z][A-Za-z0-9_ ]*[ *]op_[a-z0-9_]+\(' "$ops_h" | grep -oE 'op_[a-z0-9_]+' | sort -u)
[ -n "$declared" ] || { echo "check_op_cases: no op_* declarations found in $ops_h" >&2; exit 1; }
missing=0
for op in $declared; do
    if ! grep -q "\"$op\"" "$cases_c"; then
        echo "check_op_cases: $op is declared in $ops_h but has no case in $cases_c" >&2
        missing=$((missing + 1))
    fi
done
if [ "$missing" -gt 0 ]; then
    echo "check_op_cases: $missing op(s) without a case; add rows to the table (see the top of $cases_c)" >&2
    exit 1
fi
echo "check_op_cases: all $(echo "$declared" | wc -l) ops of $(basename "$ops_h") have cases"
