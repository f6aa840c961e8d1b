#!/bin/sh
# Continue the CPU training run of the StyleGAN3-T demo from the state kept in the repository
# (assets/demo_training/sg3t-32: the newest full snapshot with G, D, G_ema, optimizers and RNG
# states, its options, stats and log; see assets/README.md). Makes the run's dataset, copies the
# run into WORKDIR and resumes it exactly; stop it any time (Ctrl+C, SIGTERM, or Stop in the app's
# Training panel, attached to WORKDIR/sg3t-32) and run this again to go on.
#
# Usage: sh docs/continue_demo_run.sh [WORKDIR (default .runs)] [KIMG (default: the run's 1000)]
# Then, to judge a snapshot against the shipped demo (SWD on 1000 images, style mixing, a grid):
#   python docs/demo_run.py evaluate WORKDIR/sg3t-32/network-snapshot-NNNNNN.pt
# to ship a better demo (with the training notes as metadata, see assets/README.md):
#   ganscope convert WORKDIR/sg3t-32/network-snapshot-NNNNNN.pt assets/demo_generator.pt --generator-only --force
# and to keep the state for the next person (the snapshot, options, and the logs cut there):
#   python docs/demo_run.py keep WORKDIR/sg3t-32/network-snapshot-NNNNNN.pt
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-.runs}
KIMG=${2:-}
mkdir -p "$WORK"
DATA="$WORK/proc32v2_20k.zip"   # v2: textures at their 64² pixel size (2026-12-06); older proc32_20k.zip files hold the aliased v1 data
[ -f "$DATA" ] || ganscope dataset --source procedural:20000:32 --dest "$DATA"
if [ ! -d "$WORK/sg3t-32" ]; then
    cp -r "$REPO/assets/demo_training/sg3t-32" "$WORK/sg3t-32"
fi
# --metrics: each snapshot (every ~5 min) also measures SWD on 500 images (~4% of the time), so
# metrics.jsonl shows whether the samples keep getting closer to the data.
exec ganscope train --resume "$WORK/sg3t-32" --data "$DATA" --metrics swd --metrics-num 500 ${KIMG:+--kimg "$KIMG"}
