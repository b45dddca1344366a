#!/usr/bin/env bash
# Issue 38's second recipe A/B: the losses on what ships at twice the working size through the
# guided lift (lift_scale 2, the control) against the network's output at its own size, no lift
# (lift_scale 1). Both from scratch with the same seed, data and schedule, on the same code: the
# shipped recipe (results/candidates/whole39.sh, stage 1's settings) for 10 epochs, 720 steps. Each
# arm resumes from its own last.pth; a finished arm is skipped. Then both are scored on msec/valid
# and on the msec ground truths as good photos, the candidate paired against the control.
set -euo pipefail
cd "$(dirname "$0")/../.."
R="--use_global_head true --saturation_loss_weight 0.1 --precision bf16 --checkpoint_every_steps 24"
R="$R --validate_all_sizes_every 100 --fit_check_count 0 --global_view whole --auto_strength true"
R="$R --identity_fraction 0.2 --epochs 10"
python train.py $R --lift_scale 2 --model_save_dir checkpoints/ab38_scale2
python train.py $R --lift_scale 1 --model_save_dir checkpoints/ab38_scale1
E="python evaluate.py --model"
$E checkpoints/ab38_scale2/last.pth --report_dir results/ab38/scale2_valid
$E checkpoints/ab38_scale1/last.pth --compare results/ab38/scale2_valid/per_image.csv --report_dir results/ab38/scale1_valid
$E checkpoints/ab38_scale2/last.pth --good-photos --report_dir results/ab38/scale2_good
$E checkpoints/ab38_scale1/last.pth --good-photos --compare results/ab38/scale2_good/per_image.csv \
  --report_dir results/ab38/scale1_good
