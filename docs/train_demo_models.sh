#!/bin/sh
# How the shipped demo models were trained (see assets/README.md): one GPU, both runs side by
# side, each stopped through control.json after a fixed wall time, which writes a last snapshot.
# Usage: sh docs/train_demo_models.sh DATASET.zip WORKDIR OUTDIR SECONDS
# DATASET.zip was made with `ganscope dataset --source procedural:10000:64 --dest DATASET.zip`.
set -u
DATA=$1; WORK=$2; OUT=$3; SECONDS_TO_TRAIN=$4
GS="python3 -c 'from visualizer.cli import main; main()'"
mkdir -p "$WORK" "$OUT"

common="--data $DATA --batch 64 --kimg 100000 --tick 4 --snap 2 --workers 4 --no-progress --preview-interval 30 --fp32"
# StyleGAN3-T, the default `demo`: z/w 128, 2 mapping layers, channels <= 192 (18.7 MB in float32).
eval "$GS" train --cfg stylegan3-t --run-dir "$WORK/sg3t" $common --gamma 0.05 \
    --cbase 8192 --cmax 192 --zdim 128 --wdim 128 --map 2 >"$WORK/sg3t.out" 2>&1 &
P1=$!
# StyleGAN2, `demo-sg2`: z/w 128, 4 mapping layers, channels <= 192 (12.4 MB).
eval "$GS" train --cfg stylegan2 --run-dir "$WORK/sg2" $common \
    --cbase 8192 --cmax 192 --zdim 128 --wdim 128 --map 4 >"$WORK/sg2.out" 2>&1 &
P2=$!

sleep "$SECONDS_TO_TRAIN"
for r in sg3t sg2; do
    printf '{"command": "stop", "time": %s}\n' "$(date +%s)" >"$WORK/$r/control.json"
done
# A stop lands at the end of the current step and writes a snapshot; give it a minute.
for i in $(seq 60); do
    kill -0 $P1 2>/dev/null || kill -0 $P2 2>/dev/null || break
    sleep 1
done
kill -9 $P1 $P2 2>/dev/null

for r in sg3t sg2; do
    snap=$(ls "$WORK/$r"/network-snapshot-*.pt 2>/dev/null | sort | tail -1)
    echo "$r: newest snapshot $snap"
    [ -n "$snap" ] && eval "$GS" convert "$snap" "$OUT/demo_$r.pt" --generator-only
done
