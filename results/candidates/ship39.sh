#!/usr/bin/env bash
# Issue 39's ship run: issue 28's stage-3 recipe (global head, saturation loss 0.1, identity 0.2 then
# 0.25) from scratch, scaled to 6,264 steps (the shipped model trained 6,238). Three cosine cycles,
# as issue 28's stages 1-3, each from the last one's last.pth. Every stage resumes from its own
# last.pth and a finished stage is skipped, so the same command continues after a stop.
set -euo pipefail
cd "$(dirname "$0")/../.."
# the train section's defaults before issue 49 (it ran with those); the global stage's options as then
R="--conf results/candidates/conf_before_issue49.json"
R="$R --use_global_head true --saturation_loss_weight 0.1 --precision bf16 --checkpoint_every_steps 24"
R="$R --validate_all_sizes_every 100 --fit_check_count 0"
python train.py $R --identity_fraction 0.2 --epochs 50 --model_save_dir checkpoints/ship39_1
python train.py $R --identity_fraction 0.2 --epochs 22 --init_lr 0.00015 \
  --init_generator_from checkpoints/ship39_1/last.pth --model_save_dir checkpoints/ship39_2
python train.py $R --identity_fraction 0.25 --epochs 15 --init_lr 0.0001 \
  --init_generator_from checkpoints/ship39_2/last.pth --model_save_dir checkpoints/ship39_3
