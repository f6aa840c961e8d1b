#!/bin/sh
# Everything a session with a lent GPU should run, in priority order, in ONE device call that
# fits a total time budget (a task is lent about 15 minutes of device time, machine start
# included, so a call has about 9–10 minutes of its own).
#
#   sh benchmarks/gpu_session.sh [BUDGET_SECONDS [TRAIN_SECONDS]]     (on the device machine)
#
# BUDGET_SECONDS (default 480) is the whole script's wall-time budget: each step runs under a
# timeout of at most what is left (minus a small reserve for writing results), and a step that
# no longer fits is skipped and named in skipped.txt. The device tool brings back at most 8
# files, so logs and JSON go into one $OUT/results.tgz (the demo models, if any, beside it);
# the key lines are also printed.
#   1. build the three kernels at once (checks the concurrent-build lock too)        ~45 s
#   2. every GPU test: kernels vs reference (fwd, bwd, double bwd, fp16), generators with
#      either impl, StyleGAN2 vs the official fixture (needs GANSCOPE_FIXTURES), float16
#      training of StyleGAN1 / BigGAN (test_amp.py)                                     ~60–120 s
#   3. benchmarks/ops.py: each fused op vs the reference (and filtered_lrelu unfused)  ~60–90 s
#   4. generator benchmark, kernels then reference: 256², batch 1 and 32              ~60 s each
#   5. StyleGAN3-T 1024² batch 1 with the kernels (the 60 fps target)                 ~30 s
#   6. the training profile, reference vs kernels (img/s, where the time goes)         ~60 s each
#   7. the demo models for TRAIN_SECONDS (docs/train_demo_models.sh), if given and it fits
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
: "${OUT:?set OUT}"
BUDGET=${1:-480}
TRAIN=${2:-0}
RESERVE=20
START=$(date +%s)
W=/tmp/gpu_session  # logs and JSON, packed into $OUT/results.tgz at the end
rm -rf $W; mkdir -p $W
: > $W/skipped.txt

left() { echo $((BUDGET - RESERVE - ($(date +%s) - START))); }

# step NAME MAX_SECONDS MIN_SECONDS CMD...: run CMD under min(MAX, time left), logging to
# $W/NAME.txt; skip it when less than MIN_SECONDS is left.
step() {
    name=$1 max=$2 min=$3; shift 3
    l=$(left)
    if [ "$l" -lt "$min" ]; then
        echo "$name: skipped ($l s left, needs $min)" | tee -a $W/skipped.txt
        return 1
    fi
    t=$max; [ "$l" -lt "$t" ] && t=$l
    echo "== $name (limit ${t}s, $(($(date +%s) - START))s in)"
    timeout "$t" "$@" > $W/$name.txt 2>&1
    rc=$?
    [ $rc -eq 124 ] && echo "$name: stopped at its ${t}s limit"
    return $rc
}

GS="python3 -c 'from visualizer.cli import main; main()'"
if [ "$TRAIN" -gt 0 ]; then  # the dataset is made on the CPU while the GPU work runs
    eval "$GS" dataset --source procedural:10000:64 --dest /tmp/proc64.zip > $W/dataset.txt 2>&1 &
    DS=$!
fi

# 1. Builds, in parallel processes (the cache lock serialises what must be).
t=$(left); [ "$t" -gt 240 ] && t=240
pids=""
for op in bias_act upfirdn2d filtered_lrelu; do
    timeout "$t" python3 -m cuda_ops._build $op > $W/build_$op.txt 2>&1 &
    pids="$pids $!"
done
wait $pids
cat $W/build_*.txt 2>/dev/null

# 2. Parity: the result that matters most.
PT_TIMEOUT=""; python3 -c "import pytest_timeout" 2>/dev/null && PT_TIMEOUT="--timeout 120"
# the GPU tests only (the CPU emulation tests ran in CI); the StyleGAN2 file's CUDA cases by name
step pytest_gpu 200 60 python3 -m pytest -q -p no:cacheprovider $PT_TIMEOUT -rfE \
    tests/cuda_ops/test_cuda_filtered_lrelu.py tests/cuda_ops/test_self_check.py \
    tests/cuda_ops/test_cuda_bias_act.py tests/cuda_ops/test_cuda_upfirdn2d.py \
    tests/cuda_ops/test_cuda_generators.py "tests/gan_core/models/test_stylegan2.py" \
    tests/gan_core/train/test_amp.py -k "not stylegan2.py or cuda or CUDA"
tail -15 $W/pytest_gpu.txt 2>/dev/null

# 3.–5. Speed.
step ops 90 30 python3 benchmarks/ops.py --batch 8 --res 256 --json $W/ops.json && grep "^|" $W/ops.txt
# the same with filtered_lrelu's forward as the chain of passes instead of the fused kernel
export GANSCOPE_FLRELU_FUSED=0
step ops_chain 60 30 python3 benchmarks/ops.py --batch 8 --res 256 --families sg3t \
    --json $W/ops_chain.json && grep "^|" $W/ops_chain.txt
unset GANSCOPE_FLRELU_FUSED
for impl in auto ref; do
    export GANSCOPE_OPS_IMPL=$impl
    step generator_$impl 90 40 python3 benchmarks/generator.py --devices cuda \
        --no-baseline --families sg2,sg3t,sg3r --batches 1,32 --resolution 256 --reps 10 --warmup 3 \
        --json $W/generator_$impl.json && grep "^|" $W/generator_$impl.txt
done
unset GANSCOPE_OPS_IMPL
step generator_1024 60 25 python3 benchmarks/generator.py --devices cuda --no-baseline --families sg3t,sg2 \
    --batches 1 --resolution 1024 --reps 20 --warmup 3 --json $W/generator_1024.json \
    && grep "^|" $W/generator_1024.txt

# 6. Training speed with and without the kernels (needs the dataset: make a small one if absent).
if [ "$TRAIN" -gt 0 ]; then
    wait $DS
elif [ "$(left)" -ge 150 ] && [ ! -f /tmp/proc64.zip ]; then  # ~10 s
    eval "$GS" dataset --source procedural:1000:64 --dest /tmp/proc64.zip > $W/dataset.txt 2>&1
fi
for impl in auto ref; do
    export GANSCOPE_OPS_IMPL=$impl
    step profile_train_$impl 120 50 python3 benchmarks/profile_train.py \
        --data /tmp/proc64.zip --fp32 --warmup 2 --steps 5 && grep "^## " $W/profile_train_$impl.txt
done
unset GANSCOPE_OPS_IMPL

# 7. The demo models, with whatever is left (a stop takes up to a minute to land).
if [ "$TRAIN" -gt 0 ]; then
    l=$(left); t=$TRAIN; [ $((l - 90)) -lt "$t" ] && t=$((l - 90))
    if [ "$t" -ge 120 ]; then
        echo "== training the demo models for ${t}s"
        sh docs/train_demo_models.sh /tmp/proc64.zip /tmp/demo $OUT "$t" > $W/train.txt 2>&1
        cd $OUT && for f in demo_*.pt; do [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 15000000 ] && split -b 15000000 -d "$f" "$f.part" && rm "$f"; done
        tar czf $W/demo_runs.tgz -C /tmp/demo --exclude='*.pt' . 2>/dev/null
        cd - >/dev/null
    else
        echo "train: skipped (${l}s left)" | tee -a $W/skipped.txt
    fi
fi
echo "done in $(($(date +%s) - START))s"
tar czf $OUT/results.tgz -C $W .
ls -la $OUT
