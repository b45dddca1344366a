#!/usr/bin/env bash
# Issue 39 part 4's screen: the ship run's recipe (results/candidates/ship39.sh) with the global head
# deciding from the whole photo (a 64 px thumbnail through a small CNN and soft histograms,
# global_view "whole") and scaling its own correction by a predicted strength (auto_strength).
# Stage 1 only (50 epochs, 3,600 steps), paired against ship39's stage 1 at equal steps: same seed,
# data, schedule and losses. Resumes from its last.pth after a stop.
set -euo pipefail
cd "$(dirname "$0")/../.."
R="--use_global_head true --saturation_loss_weight 0.1 --precision bf16 --checkpoint_every_steps 24"
R="$R --validate_all_sizes_every 100 --fit_check_count 0 --global_view whole --auto_strength true"
python train.py $R --identity_fraction 0.2 --epochs 50 --model_save_dir checkpoints/whole39_1
