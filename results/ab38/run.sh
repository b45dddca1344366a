#!/usr/bin/env bash
# Issue 38's recipe A/B: the losses on what ships over the whole lifted photo (lift_crop 1, the
# control) against a random window of half its side (lift_crop 0.5, a quarter of the lift's pixels).
# Both from scratch with the same seed, data and schedule: the whole39 recipe
# (results/candidates/whole39.sh, stage 1's settings) for 10 epochs, 720 steps. Each arm resumes from
# its own last.pth; a finished arm is skipped. Then both are scored on msec/valid and on the msec
# ground truths as good photos, the candidate paired against the control.
set -euo pipefail
cd "$(dirname "$0")/../.."
R="--use_global_head true --saturation_loss_weight 0.1 --precision bf16 --checkpoint_every_steps 24"
R="$R --validate_all_sizes_every 100 --fit_check_count 0 --global_view whole --auto_strength true"
R="$R --identity_fraction 0.2 --epochs 10"
python train.py $R --lift_crop 1 --model_save_dir checkpoints/ab38_whole
python train.py $R --lift_crop 0.5 --model_save_dir checkpoints/ab38_half
E="python evaluate.py --model"
$E checkpoints/ab38_whole/last.pth --report_dir results/ab38/whole_valid
$E checkpoints/ab38_half/last.pth --compare results/ab38/whole_valid/per_image.csv --report_dir results/ab38/half_valid
$E checkpoints/ab38_whole/last.pth --good-photos --report_dir results/ab38/whole_good
$E checkpoints/ab38_half/last.pth --good-photos --compare results/ab38/whole_good/per_image.csv \
  --report_dir results/ab38/half_good
