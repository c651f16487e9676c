#!/usr/bin/env bash
# Two "nodes" on one machine, joined by TCP: two network namespaces, each
# with its own host name (a UTS namespace, entered for every process) and
# hosts file, joined by a veth pair with private addresses. mpirun starts
# on node1 and reaches node2 through a launcher agent that enters node2's
# namespaces where Open MPI would run ssh; ranks talk over Open MPI's TCP
# transport. Then:
#  1. a sweep of 8 trials on 2 x 2 ranks: every trial complete once, trials
#     taken by the ranks of both nodes, and each run file records its host
#     and the node-local rank (0 and 1 on each node) that picks a GPU;
#  2. data-parallel training with one rank per node equals --grad-accum 2
#     in one process, bit for bit (the gradients cross the veth);
#  3. the same sweep, and node2's ranks killed with SIGKILL mid-trial: the
#     job ends within seconds, non-zero; rerun, it skips the finished
#     trials, continues the interrupted ones and every trial has run 1's
#     parameters bit for bit.
# Namespaces, veths and processes are gone when the test ends.
# usage: cli_two_node.sh SWEEPRUN_BINARY SOURCE_DIR
source "$(dirname "$0")/cli_lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

need_mnist
need_mpirun
need_root
need_commands ip unshare mount h5dump h5diff
bin=$(realpath "$bin")

ns1="sweeprun-$$-1" ns2="sweeprun-$$-2"   # network namespaces
veth1="srv$$a" veth2="srv$$b"               # the wire (names of at most 15 characters)
net="10.231.$(($$ % 250 + 1))"
addr1="$net.1" addr2="$net.2"

cleanup() {
  local ns pid
  for ns in "$ns1" "$ns2"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  done
  for ns in "$ns1" "$ns2"; do
    wait_for 10 eval "[[ -z \"\$(ip netns pids $ns 2>/dev/null)\" ]]"
    ip netns del "$ns" 2>/dev/null            # takes its end of the veth with it
  done
  ip link del "$veth1" 2>/dev/null             # still here if the setup stopped half-way
  rm -rf "$work"
}
trap cleanup EXIT

# ---- the two nodes ------------------------------------------------------------
if ! err=$(ip netns add "$ns1" 2>&1); then
  prereq_missing "cannot make a network namespace: $err"
fi
setup() {
  ip netns add "$ns2" &&
    ip link add "$veth1" type veth peer name "$veth2" &&
    ip link set "$veth1" netns "$ns1" && ip link set "$veth2" netns "$ns2" &&
    ip -n "$ns1" addr add "$addr1/24" dev "$veth1" && ip -n "$ns2" addr add "$addr2/24" dev "$veth2" &&
    ip -n "$ns1" link set lo up && ip -n "$ns2" link set lo up &&
    ip -n "$ns1" link set "$veth1" up && ip -n "$ns2" link set "$veth2" up
}
if ! err=$(setup 2>&1); then
  echo "FAIL: setting up the two namespaces: $err"
  exit 1
fi
printf '127.0.0.1 localhost\n%s node1\n%s node2\n' "$addr1" "$addr2" >"$work/hosts"
# The agent: `agent HOST COMMAND...` runs COMMAND on HOST as ssh would
# (one shell line), inside HOST's network namespace, with its own host name
# (unshare --uts) and hosts file (bound in the mount namespace ip netns
# exec makes, so /etc/hosts itself is untouched).
cat >"$work/agent" <<EOF
#!/usr/bin/env bash
host="\$1"; shift
case "\$host" in
  node1|$addr1) ns=$ns1 name=node1 ;;
  node2|$addr2) ns=$ns2 name=node2 ;;
  *) echo "agent: unknown host \$host" >&2; exit 255 ;;
esac
exec ip netns exec "\$ns" unshare --uts bash -c \\
  'mount --bind "$work/hosts" /etc/hosts && hostname "\$0" && eval "\$1"' "\$name" "\$*"
EOF
chmod +x "$work/agent"
printf 'node1 slots=2\nnode2 slots=2\n' >"$work/hostfile"
check "node2 is named node2" test "$("$work/agent" node2 hostname)" = node2
check "node2 has its address" bash -c "'$work/agent' node2 'ip -br addr show $veth2' | grep -q ' $addr2/24'"
private_mpi_files "$work/mpi"

# mpirun2 ARGS...: mpirun on node1, node2 reached through the agent, TCP
# on the veth only. (A script, so that timeout can run it; exec, so that
# timeout's signal reaches mpirun.)
cat >"$work/mpirun2" <<EOF
#!/usr/bin/env bash
args=(mpirun --hostfile "$work/hostfile" --bind-to none --mca plm_rsh_agent "$work/agent"
      --mca btl tcp,vader,self --mca btl_tcp_if_include $net.0/24 --mca oob_tcp_if_include $net.0/24 "\$@")
exec "$work/agent" node1 "exec \$(printf '%q ' "\${args[@]}")"
EOF
chmod +x "$work/mpirun2"

# ---- 1. a sweep on 2 x 2 ranks -----------------------------------------------------
sweep_file() {  # sweep_file NAME
  cat >"$work/$1.ini" <<EOF
[sweep]
name = two-node
out = $work/$1
seeds = 0, 1
[defaults]
model = gecco
epochs = 3
train_subset = 12000
test_subset = 300
threads = 1
[grid]
lr = 0.001, 0.002, 0.003, 0.004
EOF
}
sweep_file plain
"$bin" sweep "$work/plain.ini" --dry-run >"$work/dry.out" 2>&1
ids=$(grep -Eo '^[1-8] +[0-9a-f]{12}' "$work/dry.out" | awk '{print $2}')
timeout 300 "$work/mpirun2" -np 4 --map-by ppr:2:node "$bin" sweep "$work/plain.ini" >"$work/plain.out" 2>&1
rc=$?
echo "=== the sweep on 2 nodes x 2 ranks (exit $rc):"
grep -v ' epoch [0-9]*/3:' "$work/plain.out"
check "sweep: exit 0" test "$rc" -eq 0
check "sweep: 8 trials on 4 ranks" grep -q "^sweep two-node: 8 trials on 4 ranks (1 per trial)" "$work/plain.out"
check "sweep: 8 complete" grep -q "^  complete  8$" "$work/plain.out"
check "sweep: every rank of both nodes took trials" \
  bash -c "for r in 0 1 2 3; do grep -q \"^\[rank \$r\] trial\" '$work/plain.out' || exit 1; done"
once=0 placed=0
for id in $ids; do
  f=$(ls "$work"/plain/*-"$id".h5 2>/dev/null)
  [[ -n "$f" && "$(attr "$f" status)" == complete && $(grep -c "$id complete:" "$work/plain.out") -eq 1 ]] && once=$((once + 1))
  [[ -n "$f" ]] || continue
  r=$(attr "$f" world_rank)
  want_host=node1; ((r >= 2)) && want_host=node2
  echo "$(basename "$f"): $(attr "$f" hostname), world rank $r, local rank $(attr "$f" local_rank) of $(attr "$f" local_size)"
  [[ "$(attr "$f" hostname)" == "$want_host" && "$(attr "$f" local_rank)" == $((r % 2)) && "$(attr "$f" local_size)" == 2 ]] &&
    placed=$((placed + 1))
done
check "sweep: every trial complete exactly once" test "$once" -eq 8
check "sweep: run files record node1 for ranks 0-1, node2 for 2-3, local ranks 0 and 1 on each" test "$placed" -eq 8
check "sweep: trials ran on both nodes" \
  bash -c "h5dump -a /hostname '$work'/plain/*.h5 | grep -q node1 && h5dump -a /hostname '$work'/plain/*.h5 | grep -q node2"

# ---- 2. data-parallel across the nodes -------------------------------------------------
common=(--model gecco --epochs 1 --train-subset 640 --val-split 64 --test-subset 200 --batch-size 32 --dropout 0
        --seed 7 --threads 1)
# One rank per node: no shared memory between them, the sums go over TCP.
timeout 300 "$work/mpirun2" -np 2 --map-by ppr:1:node \
  "$bin" train --data-parallel "${common[@]}" --out "$work/dp.h5" >"$work/dp.out" 2>&1
rc=$?
cat "$work/dp.out"
"$bin" train "${common[@]}" --grad-accum 2 --quiet --out "$work/accum2.h5" >/dev/null 2>&1
check "data-parallel over TCP: exit 0" test "$rc" -eq 0
check "data-parallel over TCP: 2 ranks, one per node" \
  test "$(attr "$work/dp.h5" world_size) $(attr "$work/dp.h5" hostname) $(attr "$work/dp.h5" local_size)" = "2 node1 1"
check "data-parallel over TCP: = --grad-accum 2 in one process, bit for bit" \
  h5diff "$work/dp.h5" "$work/accum2.h5" /checkpoint/params /checkpoint/params

# ---- 3. node2's ranks killed mid-sweep, then a rerun -------------------------------
sweep_file killed
timeout 300 "$work/mpirun2" -np 4 --map-by ppr:2:node "$bin" sweep "$work/killed.ini" --verbose >"$work/killed.out" 2>&1 &
job=$!
node2_epoch() { grep -q '^\[rank [23]\] [0-9a-f]* epoch [12]/3:' "$work/killed.out"; }
killed=""
if wait_for 120 node2_epoch; then
  for pid in $(ip netns pids "$ns2"); do
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == sweeprun ]] && kill -9 "$pid" && killed+="$pid "
  done
fi
killed_at=$SECONDS
wait "$job"
rc=$?
took=$((SECONDS - killed_at))
echo "=== run 1 of the killed sweep (node2's sweeprun ranks, pids ${killed:-none}, killed with SIGKILL): exit $rc, $took s after the kill"
cat "$work/killed.out"
check "kill: node2's two ranks were killed mid-sweep" test "$(wc -w <<<"$killed")" -eq 2
check "kill: the job failed" bash -c "[[ $rc -ne 0 && $rc -ne 124 ]]"
check "kill: the job ended within 20 s of the kill (no hang)" test "$took" -le 20
check "kill: some trials were left interrupted" bash -c "ls '$work'/killed/*.h5.tmp >/dev/null 2>&1"
timeout 300 "$work/mpirun2" -np 4 --map-by ppr:2:node "$bin" sweep "$work/killed.ini" --quiet >"$work/rerun.out" 2>&1
rc=$?
echo "=== the rerun (exit $rc):"
cat "$work/rerun.out"
check "rerun: exit 0" test "$rc" -eq 0
check "rerun: 8 run files, no .tmp" bash -c "[[ \$(ls '$work'/killed/*.h5 | wc -l) -eq 8 ]] && ! ls '$work'/killed/*.tmp 2>/dev/null"
check "rerun: continued the interrupted trials" grep -q "^  resumed   [1-9]" "$work/rerun.out"
same=0
for f in "$work"/killed/*.h5; do
  g="$work/plain/$(basename "$f")"
  [[ "$(attr "$f" status)" == complete ]] && h5diff -q "$f" "$g" /checkpoint/params /checkpoint/params &&
    h5diff -q "$f" "$g" /epochs/test_accuracy /epochs/test_accuracy && same=$((same + 1))
done
check "rerun: every trial complete, = the uninterrupted sweep bit for bit" test "$same" -eq 8

finish
