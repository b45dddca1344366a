#!/usr/bin/env bash
# Issue 39 part 4: the ship run's recipe (results/candidates/ship39.sh, same seed, data, schedule and
# losses) with the global head deciding from the whole photo (a 64 px thumbnail through a small CNN
# and soft histograms: global_view "whole") and scaling its own correction by a predicted strength
# (auto_strength). Stage 1 (50 epochs) is the screen, paired against ship39's stage 1 at equal steps;
# stages 2 and 3 complete the 6,264 steps of the ship run. Each stage resumes from its own last.pth
# and a finished stage is skipped, so the same command continues after a stop.
set -euo pipefail
cd "$(dirname "$0")/../.."
R="--conf results/candidates/conf_before_issue49.json"  # the train defaults it ran with (before issue 49)
R="$R --use_global_head true --saturation_loss_weight 0.1 --precision bf16 --checkpoint_every_steps 24"
R="$R --validate_all_sizes_every 100 --fit_check_count 0 --global_view whole --auto_strength true"
# Stage 1 (resumes, or says it is done); on a fresh clone without checkpoints/, its committed fp16
# weights (results/candidates/whole39_1.pth) start stage 2 instead.
S1=checkpoints/whole39_1/last.pth
if [ -f $S1 ] || [ ! -f results/candidates/whole39_1.pth ]; then
  python train.py $R --identity_fraction 0.2 --epochs 50 --model_save_dir checkpoints/whole39_1
else
  S1=results/candidates/whole39_1.pth
fi
python train.py $R --identity_fraction 0.2 --epochs 22 --init_lr 0.00015 \
  --init_generator_from $S1 --model_save_dir checkpoints/whole39_2
python train.py $R --identity_fraction 0.25 --epochs 15 --init_lr 0.0001 \
  --init_generator_from checkpoints/whole39_2/last.pth --model_save_dir checkpoints/whole39_3
