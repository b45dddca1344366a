#!/usr/bin/env bash
# Issue 39: score a candidate against the shipped model under the ship rule (docs/ablation.md), paired,
# with the prediction protocol, on every yardstick; keep its fp16 weights as results/candidates/NAME.pth.
#   bash results/candidates/score39.sh checkpoints/ship39_3/last.pth ship39
set -euo pipefail
cd "$(dirname "$0")/../.."
M=$1; N=$2
[ -d data/MSEC/extra_valid ] || python synthesize_pairs.py ../shared/data/msec/extra_gt data/MSEC/extra_valid
python -c "
from model import export_generator_weights, load_generator
g, arch = load_generator('$M'); export_generator_weights('results/candidates/$N.pth', g, arch, half=True)"
M=results/candidates/$N.pth  # scored as it would ship: fp16 weights
E="python evaluate.py --model $M"
$E --compare results/eval_msec_valid/per_image.csv --report_dir results/${N}_valid
$E --data_dir data/MSEC/extra_valid --compare results/eval_extra_valid/per_image.csv --report_dir results/${N}_extra
$E --good-photos --compare results/eval_good_photos/per_image.csv --report_dir results/${N}_good
$E --good-photos --data_dir ../shared/data/bsds500/test --compare results/eval_good_photos_bsds/per_image.csv \
  --report_dir results/${N}_bsds
$E --good-photos --data_dir ../shared/data/goodphotos --compare results/eval_goodphotos/per_image.csv \
  --report_dir results/${N}_goodphotos
$E --good-photos --data_dir ../shared/data/goodphotos/low-key --compare results/eval_goodphotos_lowkey/per_image.csv \
  --report_dir results/${N}_goodphotos_lowkey
