#!/usr/bin/env bash
# Issue 50: score a screened checkpoint against the shipped model on the screens' yardsticks, paired,
# with the prediction protocol (the defaults): msec/valid (also against screen 1's arm), 96 training
# scenes (memorising shows as the gap to msec/valid), and the good photos as inputs.
#   bash experiments/issue50/score.sh checkpoints/i50_jitter/last.pth jitter
set -euo pipefail
cd "$(dirname "$0")/../.."
M=$1; N=results/issue50/$2
E="python evaluate.py --model $M"
$E --compare results/issue50/shipped_valid/per_image.csv --report_dir ${N}_valid
$E --compare results/issue50/extra_valid/per_image.csv --report_dir ${N}_valid_vs_extra
$E --good-photos --compare results/eval_good_photos/per_image.csv --report_dir ${N}_good
$E --good-photos --data_dir ../shared/data/goodphotos --compare results/eval_goodphotos/per_image.csv \
  --report_dir ${N}_goodphotos
$E --data_dir data/MSEC/training --scenes 96 --compare results/issue50/shipped_train96/per_image.csv \
  --report_dir ${N}_train96
