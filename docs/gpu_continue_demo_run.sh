#!/bin/sh
# A lent GPU's time for issue 4: continue the 32² StyleGAN3-T demo run from the state kept in
# assets/demo_training/sg3t-32 for SECONDS on the GPU, then bring back what it takes to judge the
# result and to go on with it. A task is lent about 15 minutes of device time, the machine's start
# included, so one call of about 9 minutes is what fits: on the device tool,
#
#   run(command="sh docs/gpu_continue_demo_run.sh 400", carry=[".runs/proc32v2_20k.zip"], timeout_s=560)
#
# (the dataset is carried from here — `ganscope dataset --source procedural:20000:32 --dest
# .runs/proc32v2_20k.zip`, 21 MB — to save device time; without it the script makes it there,
# in 8 processes, while nothing else runs yet). A stop through control.json lands at the end of a step and writes a snapshot.
# Back in $OUT (at most 8 files come back, 16 MiB each):
#   network-snapshot-NNNNNN.pt      the newest full snapshot (G, D, G_ema, optimizers: 13.7 MB),
#                                   to judge and keep (`python docs/demo_run.py evaluate/keep`)
#   G-NNNNNN.pt                     the generators of the three snapshots before it (2.4 MB each)
#   run.tgz                         log.txt, stats.jsonl, metrics.jsonl (SWD at each snapshot),
#                                   training_options.json, the fakes grids, the train output
# Then here: copy the snapshot into a run directory holding run.tgz's files (or into
# .runs/sg3t-32v2 after its own snapshots) and evaluate it against `demo`.
# KEPT=sg3t-32w continues the widened run kept in assets/demo_training/sg3t-32w (96 channels,
# 268.2 kimg; docs/notes/training.md, the eighth try) instead. On 1000 images it measures level
# with `demo` (SWD 19.6 against 20.7), so neither start is known to be the better one.
# KEPT=sg3t-32L8 continues the cheaper run kept in assets/demo_training/sg3t-32L8 (8 synthesis layers,
# margin 4: ~3x the steps per second; 113.4 kimg, but with lower translation equivariance and,
# on the CPU, a plateau at 1000-image SWD 38-40 up to 161 kimg; the tenth and eleventh tries).
# WIDEN="--cbase 3072 --cmax 96" (in the command: WIDEN=... sh docs/gpu_continue_demo_run.sh 400)
# widens the kept generator as it resumes (gan_core.train.widen); its full snapshot (24.6 MB at
# 96 channels) is then over the 16 MiB a file may have, so files over 15 MiB come back split
# into NAME.part-aa, NAME.part-ab, ...: `cat NAME.part-* > NAME` joins them.
# The reference ops are used (GANSCOPE_OPS_IMPL=ref): the fused kernels' parity is issue 6's
# to check, and a demo must not depend on an unchecked kernel. Batch 32: this small network
# leaves a GPU idle at 16.
set -u
: "${OUT:?set OUT (the device tool sets it)}"
SECS=${1:-400}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 GANSCOPE_OPS_IMPL=${GANSCOPE_OPS_IMPL:-ref}
GS="python3 -c 'from visualizer.cli import main; main()'"
W=${GANSCOPE_GPU_WORK:-/tmp/demo-gpu}
RUN=$W/sg3t-32
DATA=.runs/proc32v2_20k.zip
START=$(date +%s)
rm -rf "$W"; mkdir -p "$W" .runs
[ -f $DATA ] || eval "$GS" dataset --source procedural:20000:32 --dest $DATA
cp -r "assets/demo_training/${KEPT:-sg3t-32}" "$RUN"
# A snapshot (with SWD on 500 images) every 5 ticks of 4 kimg: about one a minute on a GPU.
eval "$GS" train --resume "$RUN" ${WIDEN:-} --data $DATA --batch 32 --batch-gpu 32 --metrics swd \
    --metrics-num 500 --workers 4 --tick 4 --snap 5 --no-progress >"$W/train.out" 2>&1 &
P=$!
LEFT=$((SECS - ($(date +%s) - START)))
while [ "$LEFT" -gt 0 ] && kill -0 $P 2>/dev/null; do
    sleep 5; LEFT=$((SECS - ($(date +%s) - START)))
done
printf '{"command": "stop", "time": %s}\n' "$(date +%s)" >"$RUN/control.json"
for i in $(seq 90); do kill -0 $P 2>/dev/null || break; sleep 1; done
kill -9 $P 2>/dev/null
tail -5 "$W/train.out"
tail -3 "$RUN/metrics.jsonl" 2>/dev/null

snaps=$(ls "$RUN"/network-snapshot-*.pt 2>/dev/null | sort)
newest=$(echo "$snaps" | tail -1)
[ -n "$newest" ] && cp "$newest" "$OUT/"
for s in $(echo "$snaps" | tail -4 | head -3); do
    [ "$s" = "$newest" ] && continue
    n=$(basename "$s" .pt | sed 's/network-snapshot-//')
    eval "$GS" convert "$s" "$OUT/G-$n.pt" --generator-only >/dev/null 2>&1 || echo "convert $s failed"
done
cp "$W/train.out" "$RUN/"
tar czf "$OUT/run.tgz" -C "$RUN" --exclude='*.pt' .
for f in "$OUT"/*; do     # the device tool brings back files of at most 16 MiB
    if [ "$(stat -c %s "$f")" -gt 15728640 ]; then split -b 15m "$f" "$f.part-" && rm "$f"; fi
done
echo "trained $(($(date +%s) - START))s in all; newest snapshot: ${newest:-none}"
ls -la "$OUT"
