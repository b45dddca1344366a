#!/usr/bin/env bash
# Issue 38, lift_scale 1 at equal time rather than equal steps: 1.5x the steps (15 epochs, 1,080
# steps, its own cosine schedule) took about the wall time of the control's 10 epochs (720 steps,
# results/ab38/run_scale.sh). Scored against that control as in run_scale.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
R="--use_global_head true --saturation_loss_weight 0.1 --precision bf16 --checkpoint_every_steps 24"
R="$R --validate_all_sizes_every 100 --fit_check_count 0 --global_view whole --auto_strength true"
R="$R --identity_fraction 0.2 --epochs 15"
python train.py $R --lift_scale 1 --model_save_dir checkpoints/ab38_scale1_time
E="python evaluate.py --model checkpoints/ab38_scale1_time/last.pth"
$E --compare results/ab38/scale2_valid/per_image.csv --report_dir results/ab38/scale1_time_valid
$E --good-photos --compare results/ab38/scale2_good/per_image.csv --report_dir results/ab38/scale1_time_good
