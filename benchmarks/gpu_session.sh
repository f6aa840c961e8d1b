#!/bin/sh
# Everything a session with a lent GPU should run, in order of priority, in ONE device call
# (device time is scarce; each part has its own time limit and writes under $OUT).
#   sh benchmarks/gpu_session.sh [TRAIN_SECONDS]      (on the device machine; $OUT must be set)
# 1. build the three kernels at once (checks the concurrent-build lock too)
# 2. every GPU test: kernels vs reference, generators with either impl, StyleGAN2 vs the official fixture
#    (needs GANSCOPE_FIXTURES pointing at a carried copy of shared/fixtures)
# 3. benchmarks/ops.py, then the generator benchmark with the reference and with the kernels
# 4. host syncs and the training profile
# 5. the demo models (docs/train_demo_models.sh), if TRAIN_SECONDS > 0
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
: "${OUT:?set OUT}"
TRAIN=${1:-0}
mkdir -p $OUT/logs
python3 -c 'from visualizer.cli import main; main()' dataset --source procedural:10000:64 \
    --dest /tmp/proc64.zip > $OUT/logs/dataset.txt 2>&1 &
DS=$!
BUILDS=""
for op in bias_act upfirdn2d filtered_lrelu; do
    timeout 240 python3 -m cuda_ops._build $op > $OUT/logs/build_$op.txt 2>&1 &
    BUILDS="$BUILDS $!"
done
wait $BUILDS
cat $OUT/logs/build_*.txt
timeout 300 python3 -m pytest -q -p no:cacheprovider --timeout 120 tests/cuda_ops \
    tests/gan_core/models/test_stylegan2.py -k "cuda or CUDA or Cuda" > $OUT/logs/pytest_gpu.txt 2>&1
tail -3 $OUT/logs/pytest_gpu.txt
timeout 300 python3 benchmarks/ops.py --batch 8 --res 256 --json $OUT/ops.json > $OUT/logs/ops.txt 2>&1
grep "^|" $OUT/logs/ops.txt
for impl in ref auto; do
    GANSCOPE_OPS_IMPL=$impl timeout 300 python3 benchmarks/generator.py --devices cuda --no-baseline \
        --families sg2,sg3t,sg3r --batches 1,32 --resolution 256 --reps 10 --warmup 3 \
        --json $OUT/generator_$impl.json > $OUT/logs/generator_$impl.txt 2>&1
    grep "^|" $OUT/logs/generator_$impl.txt
done
GANSCOPE_OPS_IMPL=ref timeout 200 python3 benchmarks/count_syncs.py > $OUT/logs/syncs.txt 2>&1
wait $DS
timeout 300 python3 benchmarks/profile_train.py --data /tmp/proc64.zip --fp32 > $OUT/logs/profile.txt 2>&1 || true
grep "^## " $OUT/logs/profile.txt
if [ "$TRAIN" -gt 0 ]; then
    sh docs/train_demo_models.sh /tmp/proc64.zip /tmp/demo $OUT "$TRAIN" > $OUT/logs/train.txt 2>&1
    cd $OUT && for f in demo_*.pt; do [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 15000000 ] && split -b 15000000 -d "$f" "$f.part" && rm "$f"; done
    tar czf $OUT/logs/demo_runs.tgz -C /tmp/demo --exclude='*.pt' . 2>/dev/null
fi
ls -la $OUT $OUT/logs
