#!/usr/bin/env bash
# Issue 38's recipe A/Bs (docs/ablation.md), each arm from scratch with the shipped recipe's stage-1
# settings (results/candidates/whole39.sh), the same seed and data; each resumes from its own
# last.pth, and a finished arm or report is skipped, so the same command continues after a stop.
#   lift_crop:  the losses on a window of half the lifted side (half) against the whole (whole),
#               10 epochs, 720 steps each
#   lift_scale: the losses on the output at the working size, unlifted (scale1), against the lift to
#               twice it (scale2), 720 steps each; and scale1 at about scale2's wall time (scale1_time,
#               15 epochs, 1,080 steps)
# Each candidate is scored on msec/valid and on the msec ground truths as good photos, paired
# against its control.
set -euo pipefail
cd "$(dirname "$0")/../.."
R="--conf results/candidates/conf_before_issue49.json"  # the train defaults it ran with (before issue 49)
R="$R --use_global_head true --saturation_loss_weight 0.1 --precision bf16 --checkpoint_every_steps 24"
R="$R --validate_all_sizes_every 100 --fit_check_count 0 --global_view whole --auto_strength true"
R="$R --identity_fraction 0.2"
arm() {  # NAME EPOCHS FLAGS...: train checkpoints/ab38_NAME
  local name=$1 epochs=$2; shift 2
  python train.py $R --epochs "$epochs" "$@" --model_save_dir "checkpoints/ab38_$name"
}
score() {  # NAME [CONTROL]: results/ab38/NAME_{valid,good}, paired against CONTROL's
  local name=$1 control=${2:-} extra
  for kind in valid good; do
    [ -f "results/ab38/${name}_$kind/metrics.json" ] && continue
    extra=$([ "$kind" = good ] && echo --good-photos || true)
    python evaluate.py --model "checkpoints/ab38_$name/last.pth" $extra \
      ${control:+--compare results/ab38/${control}_$kind/per_image.csv} --report_dir "results/ab38/${name}_$kind"
  done
}
arm whole 10 --lift_crop 1 && arm half 10 --lift_crop 0.5
score whole && score half whole
arm scale2 10 --lift_scale 2 && arm scale1 10 --lift_scale 1 && arm scale1_time 15 --lift_scale 1
score scale2 && score scale1 scale2 && score scale1_time scale2
