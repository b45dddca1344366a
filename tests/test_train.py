"""train.py and dataset.py on tiny generated photos (CPU)."""

import copy
import csv
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, TINY_ARCH, make_photo, save_photos, write_conf
from dataset import ExposureDataset
from model import build_generator, export_generator_weights
from utils import find_msec_pairs


def train_conf(repo_conf, tmp_path, **changes):
    photos = tmp_path / "photos"
    if not photos.exists():
        save_photos(str(photos), 8, size=(48, 64))
        save_photos(str(tmp_path / "valid"), 4, size=(40, 40), seed=50)
    conf = copy.deepcopy(repo_conf)
    conf["train"].update(
        TINY_ARCH,
        train_data_dir=str(photos),
        valid_data_dir=str(tmp_path / "valid"),
        paired_train_input_dir="",
        paired_train_gt_dir="",
        paired_valid_input_dir="",
        paired_valid_gt_dir="",
        image_size=[32, 32],
        discriminator_image_size=[16, 16],
        batch_size=4,
        epochs=2,
        num_workers=0,
        max_image_side=0,
        model_save_dir=str(tmp_path / "ckpt"),
        begin_use_adv_loss_epoch=2,
        adversarial_loss_weight=0.1,
        init_lr=1e-3,
        final_lr=1e-4,
        seed=3,
        working_sizes=[],
        working_size_weights=[],
        # not "auto": its timing probe may choose differently for two runs that must be equal
        precision="fp32",
    )
    conf["train"].update(changes)
    return conf


# On the CPU: bit-exact resumption (torch.equal below) is a CPU fact. A GPU's atomics (interpolation
# and padding backward, cuDNN's algorithms) make two runs differ in the last bits (docs/train.md).
CPU_ONLY = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}


def run_train(tmp_path, conf, *args, launcher=None, env=CPU_ONLY):
    cmd = (launcher or [sys.executable]) + ["train.py", "--conf", write_conf(tmp_path, conf), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def read_history(folder):
    with open(os.path.join(folder, "history.csv")) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def two_epoch_run(tmp_path_factory, request):
    tmp_path = tmp_path_factory.mktemp("train")
    import json

    repo_conf = json.load(open(os.path.join(ROOT, "conf.json")))
    conf = train_conf(repo_conf, tmp_path)
    result = run_train(tmp_path, conf)
    assert result.returncode == 0, result.stderr
    return tmp_path, conf, result


def test_two_epochs_write_checkpoints_csv_and_pictures(two_epoch_run):
    tmp_path, conf, result = two_epoch_run
    folder = conf["train"]["model_save_dir"]
    for name in ("best.pth", "last.pth", "history.csv", "curves.png", "samples.png"):
        assert os.path.getsize(os.path.join(folder, name)) > 0, name
    assert not [n for n in os.listdir(folder) if ".tmp" in n]
    assert len(read_history(folder)) == 2
    last = torch.load(os.path.join(folder, "last.pth"), weights_only=True)  # safe loading: plain types only
    assert last["epoch"] == 2 and last["arch"] == TINY_ARCH
    assert {"generator", "discriminator", "optimizer_g", "optimizer_d", "rng", "best_psnr"} <= set(last)
    assert "valid PSNR" in result.stdout and "best epoch" in result.stdout and "files in" in result.stdout
    # Every checkpoint train.py writes is a model wherever one is accepted.
    from model import load_generator

    for name in ("best.pth", "last.pth"):
        generator, arch = load_generator(os.path.join(folder, name))
        assert arch == TINY_ARCH


def test_learning_rate_runs_from_init_to_final(two_epoch_run):
    rows = read_history(two_epoch_run[1]["train"]["model_save_dir"])
    assert float(rows[0]["lr"]) == pytest.approx(1e-3) and float(rows[-1]["lr"]) == pytest.approx(1e-4)


def test_a_run_stopped_within_epochs_resumes_exactly_where_it_stopped(two_epoch_run):
    """--max-steps-this-run stops within an epoch (as a kill after a checkpoint_every_steps
    checkpoint would): the resumed runs give the uninterrupted run's weights and history exactly."""
    tmp_path, conf, _ = two_epoch_run
    conf = copy.deepcopy(conf)
    conf["train"].update(model_save_dir=str(tmp_path / "steps"), checkpoint_every_steps=1)
    first = run_train(tmp_path, conf, "--max-steps-this-run", "1")
    assert first.returncode == 0 and "stopped within epoch 1 at step 1" in first.stdout, first.stderr
    state = torch.load(tmp_path / "steps" / "last.pth", weights_only=True)
    assert state["epoch"] == 0 and state["partial"]["step"] == 1 and state["history"] == []
    second = run_train(tmp_path, conf, "--max-steps-this-run", "1")  # ends epoch 1 exactly
    assert "resuming epoch 1 at step 2" in second.stdout and "stopped after epoch 1" in second.stdout
    assert "| 2/2 [" in second.stdout  # the bar counts the whole epoch, not the steps left
    assert torch.load(tmp_path / "steps" / "last.pth", weights_only=True)["epoch"] == 1
    second = run_train(tmp_path, conf, "--max-steps-this-run", "1")  # one step into epoch 2
    assert "stopped within epoch 2" in second.stdout
    third = run_train(tmp_path, conf)
    assert third.returncode == 0 and "resuming epoch 2 at step 2" in third.stdout, third.stderr
    a = torch.load(tmp_path / "ckpt" / "last.pth", weights_only=True)
    b = torch.load(tmp_path / "steps" / "last.pth", weights_only=True)
    assert "partial" not in b and b["epoch"] == 2
    for key in ("generator", "discriminator"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    moments = lambda c: [s["exp_avg"] for s in c["optimizer_g"]["state"].values()]
    assert all(torch.equal(x, y) for x, y in zip(moments(a), moments(b)))
    for row_a, row_b in zip(read_history(tmp_path / "ckpt"), read_history(tmp_path / "steps")):
        assert all(
            row_a[k] == row_b[k] for k in row_a if k.startswith(("train_", "valid_psnr", "valid_ssim"))
        ), row_a


def test_adversarial_term_joins_at_its_epoch(two_epoch_run):
    rows = read_history(two_epoch_run[1]["train"]["model_save_dir"])
    assert (
        rows[0]["adversarial"] == "0" and float(rows[0]["train_adv"]) == 0 and float(rows[0]["train_d"]) == 0
    )
    assert rows[1]["adversarial"] == "1" and float(rows[1]["train_adv"]) > 0 and float(rows[1]["train_d"]) > 0


def test_resumed_run_equals_uninterrupted_run(two_epoch_run, repo_conf):
    tmp_path, conf, _ = two_epoch_run
    conf = copy.deepcopy(conf)
    conf["train"]["model_save_dir"] = str(tmp_path / "resumed")
    first = run_train(tmp_path, conf, "--max-epochs-this-run", "1")
    assert first.returncode == 0 and len(read_history(tmp_path / "resumed")) == 1
    assert "stopped at epoch 1 of 2" in first.stdout and "run the same command again" in first.stdout
    second = run_train(tmp_path, conf)
    assert second.returncode == 0 and "resumed from" in second.stdout
    a = torch.load(tmp_path / "ckpt" / "last.pth", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "last.pth", weights_only=False)
    for key in ("generator", "discriminator"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    assert (
        read_history(tmp_path / "ckpt")[1]["valid_psnr"]
        == read_history(tmp_path / "resumed")[1]["valid_psnr"]
    )
    third = run_train(tmp_path, conf)
    assert (
        third.returncode == 0 and "already trained 2 of 2" in third.stdout and "loading" not in third.stdout
    )


def test_torchrun_two_processes(repo_conf, tmp_path):
    conf = train_conf(repo_conf, tmp_path, epochs=1, batch_size=2)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517"]
    result = run_train(tmp_path, conf, launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es)" in result.stdout and len(read_history(conf["train"]["model_save_dir"])) == 1


def test_missing_or_empty_data_folder_is_one_line(repo_conf, tmp_path):
    conf = train_conf(repo_conf, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    conf["train"]["train_data_dir"] = str(empty)
    result = run_train(tmp_path, conf)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == f"error: no images in {empty}"
    conf["train"]["train_data_dir"] = str(tmp_path / "nowhere")
    result = run_train(tmp_path, conf)
    assert result.returncode == 2 and "key 'train_data_dir' must be an existing folder" in result.stderr
    conf["train"]["train_data_dir"] = ""  # no training data at all: said before validation is loaded
    result = run_train(tmp_path, conf)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith(
        "error: no training data"
    )
    assert "docs/data.md" in result.stderr and "valid" not in result.stderr


def test_unreadable_image_is_skipped_and_counted(repo_conf, tmp_path):
    conf = train_conf(repo_conf, tmp_path, epochs=1)
    open(tmp_path / "photos" / "broken.jpg", "wb").write(b"\xff\xd8\xff garbage")
    result = run_train(tmp_path, conf)
    assert result.returncode == 0, result.stderr
    assert "1 of 9 images were unreadable" in result.stderr and "8 training" in result.stdout


def test_nan_loss_stops_and_keeps_last_good_checkpoint(repo_conf, tmp_path):
    conf = train_conf(repo_conf, tmp_path, epochs=2, init_lr=1e30, final_lr=1e30, begin_use_adv_loss_epoch=5)
    result = run_train(tmp_path, conf)
    assert (
        result.returncode == 1 and "loss became" in result.stderr and "last good checkpoint" in result.stderr
    )


def test_msec_pairs_match_and_report_unmatched(tmp_path):
    inputs, gts = tmp_path / "INPUT_IMAGES", tmp_path / "GT_IMAGES"
    for name in ("a0001-x_N1.5.JPG", "a0001-x_P1.JPG", "a0002-y_0.JPG", "a0003-z_N1.JPG"):
        save_photos(str(inputs), 1)
        os.rename(inputs / "photo00.png", inputs / name)
    for name in ("a0001-x.jpg", "a0002-y.jpg"):
        save_photos(str(gts), 1)
        os.rename(gts / "photo00.png", gts / name)
    pairs, unmatched = find_msec_pairs(str(inputs), str(gts))
    assert sorted((os.path.basename(i), os.path.basename(g), ev) for i, g, ev in pairs) == [
        ("a0001-x_N1.5.JPG", "a0001-x.jpg", "N1.5"),
        ("a0001-x_P1.JPG", "a0001-x.jpg", "P1"),
        ("a0002-y_0.JPG", "a0002-y.jpg", "0"),
    ]
    assert [os.path.basename(p) for p in unmatched] == ["a0003-z_N1.JPG"]


def test_paired_training_reports_unmatched(repo_conf, tmp_path):
    inputs, gts = tmp_path / "in", tmp_path / "gt"
    save_photos(str(gts), 4)
    shutil.copytree(gts, inputs)
    for i in range(4):
        os.rename(inputs / f"photo{i:02d}.png", inputs / f"photo{i:02d}_N1.png")
    os.rename(inputs / "photo03_N1.png", inputs / "orphan_P1.png")
    conf = train_conf(
        repo_conf,
        tmp_path,
        epochs=1,
        batch_size=2,
        train_data_dir="",
        paired_train_input_dir=str(inputs),
        paired_train_gt_dir=str(gts),
    )
    result = run_train(tmp_path, conf)
    assert result.returncode == 0, result.stderr
    assert (
        "no ground truth" in result.stdout
        and "orphan_P1.png" in result.stdout
        and "4 training" not in result.stdout
    )
    assert "3 training" in result.stdout


SYNTHESIS = {
    "ev_synthesis_fraction": 0.5,
    "ev_range": [-1.5, 1.5],
    "color_jitter_brightness": 0.5,
    "color_jitter_contrast": 0.3,
    "color_jitter_saturation": 0.3,
    "color_jitter_hue": 0.02,
}


def test_synthesis_makes_over_and_under_exposure():
    photos = [make_photo(40, 40, seed=i) for i in range(40)]
    data = ExposureDataset(photos, [None] * 40, (32, 32), SYNTHESIS, train=True)
    ratios = [float(x.mean() / y.mean()) for x, y, *_ in (data[i] for i in range(40))]
    assert min(ratios) < 0.8 and max(ratios) > 1.2
    for fraction in (0.0, 1.0):  # each synthesis alone also goes both ways
        data.synthesis = {**SYNTHESIS, "ev_synthesis_fraction": fraction}
        ratios = [float(x.mean() / y.mean()) for x, y, *_ in (data[i] for i in range(40))]
        assert min(ratios) < 0.9 and max(ratios) > 1.1, fraction


def test_validation_is_the_same_every_epoch_and_training_is_not():
    photos = [make_photo(50, 60, seed=i) for i in range(4)]
    valid = ExposureDataset(photos, [None] * 4, (32, 32), SYNTHESIS, train=False)
    train = ExposureDataset(photos, [None] * 4, (32, 32), SYNTHESIS, train=True)
    first_valid, first_train = valid[2][0].clone(), train[2][0].clone()
    valid.epoch = train.epoch = 5
    assert torch.equal(valid[2][0], first_valid) and not torch.equal(train[2][0], first_train)


def test_photo_smaller_than_the_crop_is_padded_whole():
    photo = make_photo(20, 30)
    data = ExposureDataset([photo], [None], (32, 48), SYNTHESIS, train=False)
    x, y, *_ = data[0]
    assert x.shape == y.shape == (3, 32, 48)
    assert torch.equal((y[:, :20, :30].permute(1, 2, 0) * 255).round().byte(), torch.from_numpy(photo))


def test_lift_crop_gives_a_random_window_of_the_same_lifted_photo_and_changes_nothing_else():
    photo = make_photo(60, 90, seed=1)
    whole = ExposureDataset([photo], [None], (32, 32), SYNTHESIS, train=True, multiple=8)
    half = ExposureDataset([photo], [None], (32, 32), SYNTHESIS, train=True, multiple=8, lift_crop=0.5)
    tops = set()
    for epoch in range(6):
        whole.epoch = half.epoch = epoch
        x, y, full_x, full_y, valid = whole[(0, 30)]
        hx, hy, win_x, win_y, (h, w, top, left, big_h, big_w) = half[(0, 30)]
        assert torch.equal(x, hx) and torch.equal(y, hy) and valid == (h, w)  # same draws, same photo
        assert (big_h, big_w) == tuple(full_y.shape[1:]) and win_y.shape == (3, 20, 30)
        assert torch.equal(win_x, full_x[:, top : top + 20, left : left + 30])
        assert torch.equal(win_y, full_y[:, top : top + 20, left : left + 30])
        tops.add((top, left))
    assert len(tops) > 1  # the window moves
    valid = ExposureDataset([photo], [None], (32, 32), SYNTHESIS, train=False, multiple=8, lift_crop=0.5)
    assert len(valid[(0, 30)][4]) == 2  # validation keeps the whole photo


def test_lift_scale_sets_the_lifted_size_in_training_and_validation_keeps_twice_the_working_size():
    photo = make_photo(60, 90, seed=1)
    default = ExposureDataset([photo], [None], (32, 32), SYNTHESIS, train=True, multiple=8)
    at_two = ExposureDataset([photo], [None], (32, 32), SYNTHESIS, train=True, multiple=8, lift_scale=2.0)
    for a, b in zip(default[(0, 30)][:4], at_two[(0, 30)][:4]):  # the default is the recipe as before
        assert a.shape[1:] == b.shape[1:] and torch.equal(a, b)
    assert default[(0, 30)][3].shape == (3, 40, 60)  # twice the working size, as since issue 15
    at_one = ExposureDataset([photo], [None], (32, 32), SYNTHESIS, train=True, multiple=8, lift_scale=1)
    x, y, full_x, full_y, valid = at_one[(0, 30)]
    assert valid == (20, 30) and full_x.shape == full_y.shape == (3, 20, 30)  # the network's own size
    assert torch.equal(y[:, :20, :30], full_y)  # so the losses take the output as it is, unlifted
    at_three = ExposureDataset([photo], [None], (32, 32), SYNTHESIS, train=True, multiple=8, lift_scale=3)
    assert at_three[(0, 20)][3].shape == (3, 40, 60)  # 3 x 20 px, within the stored 60x90
    valid_set = ExposureDataset([photo], [None], (32, 32), SYNTHESIS, train=False, multiple=8, lift_scale=1)
    assert valid_set[(0, 30)][3].shape == (3, 40, 60)  # validation: twice the working size, as before


def test_pair_ev_jitter_reshoots_real_inputs_and_keeps_their_ground_truth():
    from dataset import synthesize_ev, to_tensor

    target, given = make_photo(60, 90, seed=1), make_photo(60, 90, seed=2) // 2
    plain = ExposureDataset([target], [given], (32, 32), SYNTHESIS, train=True, multiple=8)
    jitter = ExposureDataset([target], [given], (32, 32), SYNTHESIS, train=True, multiple=8, pair_ev_jitter=1.0)
    off = ExposureDataset([target], [given], (32, 32), SYNTHESIS, train=True, multiple=8, pair_ev_jitter=0)
    ratios = []
    for i in range(12):
        a, b = plain[(i, 30)], jitter[(i, 30)]
        same = lambda x, y: torch.equal(x, y) or torch.equal(x, y.flip(-1))  # (the flip is drawn after)
        assert same(a[3], b[3])  # the ground truth unchanged (the network's copy is shrunk from it)
        assert all(torch.equal(x, y) for x, y in zip(a[:4], off[(i, 30)][:4]))  # 0: the recipe as before
        if torch.equal(a[3], a[2]):  # an identity item: the good photo is not re-shot
            assert torch.equal(b[2], b[3])
            continue
        ratios.append(float(b[2].mean() / a[2].mean()))
    # each real input is brighter or darker by its own draw, within what +-1 stop can do
    assert len(ratios) > 4 and min(ratios) < 0.95 and max(ratios) > 1.05
    shot = synthesize_ev(to_tensor(given), 1.0).mean() / to_tensor(given).mean()
    assert all(1 / shot - 0.02 < r < shot + 0.02 for r in ratios)
    valid = ExposureDataset([target], [given], (32, 32), SYNTHESIS, train=False, multiple=8, pair_ev_jitter=1.0)
    held = ExposureDataset([target], [given], (32, 32), SYNTHESIS, train=False, multiple=8)
    assert torch.equal(valid[(0, 30)][2], held[(0, 30)][2])  # validation sees the real input as shot


def test_whole_photo_items_at_a_working_size_are_padded_as_prediction_pads():
    from dataset import WorkingSizeBatches, collate
    from utils import pad_bottom_right, resize

    photo = make_photo(60, 90, seed=1)
    data = ExposureDataset([photo], [None], (32, 32), SYNTHESIS, train=False, multiple=8)
    x, y, full_x, full_y, (h, w) = data[(0, 30)]
    assert (h, w) == (20, 30) and x.shape == y.shape == (3, 24, 32)  # 20x30 padded to multiples of 8
    assert full_y.shape == (3, 40, 60)  # the lift target: twice the working size
    expected = pad_bottom_right(resize(resize(photo, 40, 60), 20, 30), 24, 32)
    assert (y.permute(1, 2, 0) * 255 - torch.from_numpy(expected.astype("float32"))).abs().max() < 1.01
    # Identity items: the target is its own input.
    identity = ExposureDataset(
        [photo], [None], (32, 32), SYNTHESIS, train=True, multiple=8, identity_fraction=1.0
    )
    x, y, *_ = identity[(0, 30)]
    assert torch.equal(x, y)
    # One working size per batch, the same for every process, and batches that stack.
    batches = WorkingSizeBatches(list(range(12)), 4, [16, 32], [1, 1], seed=0)
    drawn = list(batches)
    assert len(drawn) == 3 and all(len({size for _, size, _ in b}) == 1 for b in drawn)
    assert drawn == list(batches)
    many = ExposureDataset(
        [make_photo(60, 90, seed=i) for i in range(4)] + [make_photo(90, 60, seed=9)],
        [None] * 5,
        (32, 32),
        SYNTHESIS,
        train=True,
        multiple=8,
    )
    inputs, targets, *_ = collate([many[(i, 32)] for i in range(5)])
    assert inputs.shape == targets.shape == (5, 3, 24, 32)  # portrait photos are turned to landscape


def test_whole_photo_training_with_working_sizes(repo_conf, tmp_path):
    conf = train_conf(
        repo_conf,
        tmp_path,
        epochs=1,
        working_sizes=[16, 32],
        working_size_weights=[1, 1],
        identity_fraction=0.25,
        guided_loss_weight=1.0,
        ssim_loss_weight=0.5,
        chroma_loss_weight=1.0,
        global_loss_weight=1.0,
        saturation_loss_weight=0.1,
        use_global_head=True,
        begin_use_adv_loss_epoch=5,
        fit_check_count=6,
    )
    result = run_train(tmp_path, conf)
    assert result.returncode == 0, result.stderr[-2000:]
    row = read_history(conf["train"]["model_save_dir"])[0]
    assert float(row["train_lift"]) > 0 and float(row["train_ssim"]) > 0 and float(row["valid_psnr"]) > 0
    # the look's loss terms (issue 28) join on what ships, and the global head trains with them
    assert float(row["train_chroma"]) > 0 and float(row["train_global"]) > 0 and float(row["train_sat"]) > 0
    assert "chroma=" in result.stdout and "global=" in result.stdout and "sat=" in result.stdout
    # the head learns at global_head_lr_scale (10) times the pyramid's rate, in a group of its own
    saved = torch.load(os.path.join(conf["train"]["model_save_dir"], "last.pth"), weights_only=False)
    pyramid, head = saved["optimizer_g"]["param_groups"]
    assert head["lr"] == pytest.approx(10 * pyramid["lr"]) and len(head["params"]) == 10
    # the fixed training items are scored beside validation, as validation scores its photos
    assert float(row["fit_psnr"]) > 0 and "training items" in result.stdout


def test_fixed_view_of_the_training_set_is_deterministic_and_prefers_real_pairs():
    from dataset import fixed_view

    photos = [make_photo(32, 48, seed=i) for i in range(6)]
    inputs = [None, None, None, photos[3] // 2, photos[4] // 2, photos[5] // 2]
    synthesis = dict(
        ev_synthesis_fraction=0.5,
        ev_range=[-1, 1],
        color_jitter_brightness=0.3,
        color_jitter_contrast=0.2,
        color_jitter_saturation=0.2,
        color_jitter_hue=0.02,
    )
    data = ExposureDataset(photos, inputs, (32, 32), synthesis, True, identity_fraction=0.5)
    view = fixed_view(data, 2)
    assert len(view) == 2 and not view.train and view.identity_fraction == 0
    assert all(given is not None for given in view.inputs) and fixed_view(data, 0) is None
    data.epoch = view.epoch = 7
    first, again = view[(1, 32)], view[(1, 32)]
    assert torch.equal(first[0], again[0]) and torch.equal(first[0], fixed_view(data, 2)[(1, 32)][0])


def test_plots_are_redrawn_at_most_every_30_s_and_at_the_last_epoch(repo_conf, tmp_path):
    conf = train_conf(repo_conf, tmp_path, epochs=3, begin_use_adv_loss_epoch=5)
    result = run_train(tmp_path, conf, "--time-steps")
    assert result.returncode == 0, result.stderr[-2000:]
    # "epoch work: ... reports X s": the first epoch plots, the second (seconds later) writes only
    # history.csv, the last plots again
    reports = [float(line.rsplit("reports ", 1)[1][:-2]) for line in result.stdout.splitlines()
               if line.startswith("epoch work:")]
    assert len(reports) == 3 and reports[1] < min(reports[0], reports[2]) / 3, reports
    assert len(read_history(conf["train"]["model_save_dir"])) == 3


def test_no_validation_is_said_and_samples_come_from_training(repo_conf, tmp_path):
    conf = train_conf(repo_conf, tmp_path, epochs=1, valid_data_dir="", begin_use_adv_loss_epoch=5)
    result = run_train(tmp_path, conf)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no validation" in result.stdout and "nan" not in result.stdout
    assert os.path.getsize(os.path.join(conf["train"]["model_save_dir"], "samples.png")) > 0


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resume_is_exact_in_each_precision(repo_conf, tmp_path, precision):
    conf = train_conf(repo_conf, tmp_path, precision=precision, begin_use_adv_loss_epoch=5)
    whole = run_train(tmp_path, conf)
    assert whole.returncode == 0, whole.stderr[-2000:]
    assert ("bfloat16 autocast" if precision == "bf16" else "float32") in whole.stdout
    conf["train"]["model_save_dir"] = str(tmp_path / "resumed")
    for args in (["--max-epochs-this-run", "1"], []):
        assert run_train(tmp_path, conf, *args).returncode == 0
    a = torch.load(tmp_path / "ckpt" / "last.pth", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "last.pth", weights_only=True)
    assert all(torch.equal(a["generator"][k], b["generator"][k]) for k in a["generator"])
    assert all(  # the optimiser state stays float32 whatever the precision
        v.dtype == torch.float32 for s in b["optimizer_g"]["state"].values() for v in s.values() if v.dim()
    )


def test_auto_precision_keeps_a_resumed_runs_choice_and_an_explicit_one_wins(monkeypatch):
    import precision

    monkeypatch.setattr(
        precision, "bf16_is_faster", lambda *a: pytest.fail("no probe when the choice is made")
    )
    cpu = torch.device("cpu")
    for saved in (True, False):
        assert precision.use_bf16("auto", cpu, None, None, {"bf16": saved}, print) is saved
    assert precision.use_bf16("fp32", cpu, None, None, {"bf16": True}, print) is False
    assert precision.use_bf16("bf16", cpu, None, None, None, print) is True
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert precision.use_bf16("auto", cpu, None, None, None, print) is False


def test_auto_precision_probe_leaves_the_generator_and_random_streams_untouched():
    import precision
    from model import build_generator

    generator = build_generator(TINY_ARCH).to(memory_format=torch.channels_last)
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    rng, said = torch.get_rng_state(), []
    assert precision.bf16_is_faster(generator, (2, 3, 32, 32), said.append) in (True, False)
    assert all(torch.equal(before[k], v) for k, v in generator.state_dict().items())
    assert all(p.grad is None for p in generator.parameters())
    assert torch.equal(rng, torch.get_rng_state())
    assert "float32" in said[0] and "bfloat16" in said[0] and "training in" in said[0]


def test_bf16_and_fp32_train_to_nearly_the_same_weights(repo_conf, tmp_path):
    weights = []
    for precision in ("fp32", "bf16"):
        conf = train_conf(
            repo_conf, tmp_path, precision=precision, epochs=1, model_save_dir=str(tmp_path / precision)
        )
        assert run_train(tmp_path, conf).returncode == 0
        weights.append(torch.load(tmp_path / precision / "last.pth", weights_only=True)["generator"])
    moved = [(weights[1][k] - weights[0][k]).abs().max().item() for k in weights[0]]
    assert max(moved) < 0.02  # one epoch at lr 1e-3 moves weights by ~1e-2; bf16 rounding is far less


def test_leftover_temporary_checkpoint_is_removed(two_epoch_run, tmp_path):
    _, conf, _ = two_epoch_run
    conf = copy.deepcopy(conf)
    folder = tmp_path / "ckpt_copy"
    shutil.copytree(conf["train"]["model_save_dir"], folder)
    shutil.copy(folder / "last.pth", folder / "last.pth.tmp4242.pth")  # as a kill mid-write leaves it
    conf["train"]["model_save_dir"] = str(folder)
    result = run_train(tmp_path, conf)
    assert result.returncode == 0 and "already trained 2 of 2" in result.stdout
    assert not (folder / "last.pth.tmp4242.pth").exists() and "removed" in result.stdout
    assert (folder / "last.pth").exists()


def test_validation_sizes_first_every_epoch_all_every_k():
    from validation import validation_sizes

    sizes = [128, 256, 512]
    assert [validation_sizes(sizes, e, 12, 5) for e in (1, 5, 6, 12)] == [[128], sizes, [128], sizes]
    assert validation_sizes([], 3, 12, 5) == [None]


def test_whole_photo_history_has_every_size_when_validated(repo_conf, tmp_path):
    conf = train_conf(
        repo_conf,
        tmp_path,
        epochs=2,
        working_sizes=[32, 16],
        working_size_weights=[1, 1],
        validate_all_sizes_every=2,
        begin_use_adv_loss_epoch=5,
    )
    result = run_train(tmp_path, conf)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = read_history(conf["train"]["model_save_dir"])
    assert rows[0]["valid_psnr_16"] == "" and float(rows[1]["valid_psnr_16"]) > 0
    assert float(rows[0]["valid_seconds"]) >= 0 and "16 px" in result.stdout


def streaming_and_cached_sets(repo_conf, tmp_path, **changes):
    from dataset import build_dataset

    save_photos(str(tmp_path / "gts"), 4, size=(60, 90))
    conf = train_conf(repo_conf, tmp_path, max_image_side=48, identity_fraction=0.2, **changes)
    sets = []
    for mode in (False, True):
        conf["train"]["cache_images"] = mode
        sets.append(build_dataset(conf["train"], str(tmp_path / "gts"), "", "", True, 8, log=lambda *a: None))
    return sets


def test_streamed_items_equal_cached_items_for_the_same_seed_epoch_and_index(repo_conf, tmp_path):
    streamed, cached = streaming_and_cached_sets(repo_conf, tmp_path)
    assert all(isinstance(t, str) for t in streamed.targets) and all(
        not isinstance(t, str) for t in cached.targets
    )
    for epoch in (0, 3):
        streamed.epoch = cached.epoch = epoch
        for key in (0, 3, (1, 32), (2, 16)):
            a, b = streamed[key], cached[key]
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[4] == b[4]


def test_max_image_side_0_crops_from_the_stored_size(repo_conf, tmp_path):
    from dataset import build_dataset

    save_photos(str(tmp_path / "big"), 2, size=(120, 200))
    conf = train_conf(repo_conf, tmp_path, max_image_side=0, cache_images="auto")
    data = build_dataset(conf["train"], str(tmp_path / "big"), "", "", True, 8, log=lambda *a: None)
    assert data.photo(data.targets[0]).shape == (120, 200, 3)
    assert data[(0, 64)][2].shape == (3, 77, 128)  # lifted to twice the working size, below the stored size


def test_a_photo_that_fails_to_decode_later_is_replaced_and_said(repo_conf, tmp_path, capsys):
    streamed, _ = streaming_and_cached_sets(repo_conf, tmp_path)
    with open(streamed.targets[1], "r+b") as f:  # the header still reads; the pixels do not
        f.truncate(60)
    item = streamed[1]
    assert item[0].shape[0] == 3 and "takes the next photo instead" in capsys.readouterr().err


def test_paper_recipe_three_stages_chain_from_each_others_weights(repo_conf, tmp_path):
    """docs/reproduce.md's three stages at toy scale (crops growing 16 -> 24 -> 32 px, step decay,
    the adversarial term joining later, crops_per_photo): each stage starts from the previous
    one's last.pth, the discriminator too in the last stage. Run at learning rate 0, a stage must
    end with exactly the weights it started from."""
    from model import read_checkpoint

    common = dict(epochs=2, lr_step_epochs=1, init_lr=1e-3, discriminator_init_lr=1e-4, identity_fraction=0.0)
    stages = [
        dict(image_size=[16, 16], crops_per_photo=2, begin_use_adv_loss_epoch=1000),
        dict(image_size=[24, 24], crops_per_photo=2, begin_use_adv_loss_epoch=2),
        dict(image_size=[32, 32], crops_per_photo=1, begin_use_adv_loss_epoch=1),
    ]
    previous = None
    for k, stage in enumerate(stages):
        folder = str(tmp_path / f"stage{k}")
        chain = dict(init_generator_from=previous or "", init_discriminator_from=previous if k == 2 else "")
        conf = train_conf(repo_conf, tmp_path, model_save_dir=folder, **common, **stage, **chain)
        result = run_train(tmp_path, conf)
        assert result.returncode == 0, result.stderr[-2000:]
        rows = read_history(folder)
        assert [float(r["lr"]) for r in rows] == [1e-3, 5e-4]  # halved after every epoch
        assert [int(r["adversarial"]) for r in rows] == [
            stage["begin_use_adv_loss_epoch"] <= e for e in (1, 2)
        ]
        if previous:
            assert f"generator initialised from {previous}" in result.stdout
            zero = dict(init_lr=0.0, discriminator_init_lr=0.0, model_save_dir=folder + "_lr0", epochs=1)
            frozen = train_conf(repo_conf, tmp_path, **{**common, **stage, **chain, **zero})
            assert run_train(tmp_path, frozen).returncode == 0
            before, after = read_checkpoint(previous), read_checkpoint(folder + "_lr0/last.pth")
            for part in ("generator",) + (("discriminator",) if k == 2 else ()):
                assert all(torch.equal(before[part][n].float(), after[part][n].float()) for n in before[part])
        previous = os.path.join(folder, "last.pth")
    assert len(ExposureDataset([0] * 3, [None] * 3, (8, 8), {}, True, repeats=4)) == 12


def test_init_generator_from_warm_starts_an_extended_architecture_or_names_the_misfit(repo_conf, tmp_path):
    small = str(tmp_path / "small.pth")
    export_generator_weights(small, build_generator(TINY_ARCH), TINY_ARCH)
    conf = train_conf(repo_conf, tmp_path, epochs=1, use_psa=True, init_generator_from=small)
    result = run_train(tmp_path, conf)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"generator initialised from {small}; new, freshly initialised: unets.0.bottleneck_attention" in (
        result.stdout
    )
    wide = {**TINY_ARCH, "first_layer_out_channels_of_every_unet": [16, 8, 4]}
    export_generator_weights(small, build_generator(wide), wide)
    conf = train_conf(
        repo_conf, tmp_path, epochs=1, init_generator_from=small, model_save_dir=str(tmp_path / "b")
    )
    result = run_train(tmp_path, conf)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: init_generator_from {small} was trained with first_layer_out_channels_of_every_unet "
        "[16, 8, 4], this run builds [8, 8, 4]: set --first_layer_out_channels_of_every_unet [16, 8, 4] "
        "to train its architecture"
    )


# ---------------------------------------------------------------- GPUs, checked on the CPU (issue 30)


def test_conf_visible_devices_apply_only_outside_torchrun_and_an_environment_that_sets_them():
    from precision import visible_devices

    assert visible_devices("0", {}) == "0"
    assert visible_devices("0", {"LOCAL_RANK": "1", "RANK": "1"}) is None  # torchrun: see every GPU
    assert visible_devices("0", {"CUDA_VISIBLE_DEVICES": "2,3"}) is None  # the environment wins


def test_torchrun_rank_beyond_the_visible_gpus_is_one_line(monkeypatch):
    import precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    env = {"LOCAL_RANK": "1", "CUDA_VISIBLE_DEVICES": "0"}
    with pytest.raises(ValueError, match="wants GPU 1 but 1 are visible"):
        precision.choose_device("0", env)
    assert env["CUDA_VISIBLE_DEVICES"] == "0"  # untouched


def test_bf16_auto_needs_a_gpu_that_runs_it_natively(monkeypatch):
    import precision

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # emulation counts here
    for capability, expected in (((7, 5), False), ((8, 0), True), ((9, 0), True)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, c=capability: c)
        assert precision.use_bf16("auto", torch.device("cuda", 0), None, None, None, print) is expected


def test_float32_on_a_gpu_turns_tf32_off():
    import precision

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        precision.set_float32_math(torch.device("cpu"))
        assert torch.backends.cudnn.allow_tf32
        precision.set_float32_math(torch.device("cuda", 0))
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_gpu_rng_state_is_the_devices_own_and_resumes_on_fewer_gpus(monkeypatch):
    """last.pth keeps this process's GPU state only; an older last.pth from 2 GPUs (a list of two)
    resumes on one GPU with the first (it raised IndexError)."""
    import train

    own = torch.ByteTensor([1, 2, 3])
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda *a: own)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [own, own])
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, *a: restored.append(s))
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda s: (_ for _ in ()).throw(IndexError()))
    states = train.rng_states()
    assert torch.equal(states["cuda"], own)  # one state, not one per visible GPU
    train.set_rng_states(states)
    train.set_rng_states({**states, "cuda": [torch.ByteTensor([7]), torch.ByteTensor([8])]})
    assert torch.equal(restored[0], own) and torch.equal(restored[1], torch.ByteTensor([7]))


def test_process_group_waits_long_enough_for_validation_on_rank_0():
    from precision import PROCESS_GROUP_TIMEOUT

    assert PROCESS_GROUP_TIMEOUT.total_seconds() >= 3600  # torch's default is 10 minutes
    source = open(os.path.join(ROOT, "train.py")).read()
    assert "init_process_group(backend, timeout=PROCESS_GROUP_TIMEOUT)" in source


def test_pyramid_kernel_is_made_once_per_device_and_type():
    from model import _gaussian_kernel

    x = torch.rand(1, 3, 8, 8)
    assert _gaussian_kernel(3, x) is _gaussian_kernel(3, x)
    assert _gaussian_kernel(3, x.double()).dtype == torch.float64


def test_persistent_loader_workers_draw_each_epochs_own_items():
    """The epoch travels in WorkingSizeBatches' keys: a persistent worker's copy of the set (whose
    .epoch never changes) gives epoch 2 the same items as the set itself at epoch 2."""
    from torch.utils.data import DataLoader, DistributedSampler

    from dataset import WorkingSizeBatches, collate

    photos = [make_photo(48, 64, seed=i) for i in range(4)]
    data = ExposureDataset(photos, [None] * 4, (32, 32), SYNTHESIS, train=True, multiple=8)
    batches = WorkingSizeBatches(DistributedSampler(data, 1, 0, shuffle=True, seed=0), 2, [32], [1], seed=0)
    loader = DataLoader(data, batch_sampler=batches, num_workers=1, persistent_workers=True, collate_fn=collate)
    seen = {}
    for epoch in (0, 1):
        batches.set_epoch(epoch)
        seen[epoch] = [b[0] for b in loader]
    data.epoch = 1  # as train.py sets it: the keys' epoch is what counts
    direct = [collate([data[(i, size)] for i, size, _ in keys])[0] for keys in batches]
    assert all(torch.equal(a, b) for a, b in zip(seen[1], direct))
    assert not all(torch.equal(a, b) for a, b in zip(seen[0], seen[1]))


def test_a_resumed_run_keeps_its_architecture_and_a_contradicting_key_is_one_line(two_epoch_run):
    """last.pth carries its architecture: a conf file whose architecture keys differ resumes it as it
    was trained; an architecture key typed on the command line that contradicts it is one line."""
    tmp_path, conf, _ = two_epoch_run
    conf = copy.deepcopy(conf)
    folder = str(tmp_path / "resume_arch")
    shutil.copytree(conf["train"]["model_save_dir"], folder)
    conf["train"].update(model_save_dir=folder, epochs=3, use_psa=True)
    conf["train"]["first_layer_out_channels_of_every_unet"] = [4, 4, 4]
    result = run_train(tmp_path, conf)
    assert result.returncode == 0, result.stderr[-2000:]
    last = torch.load(os.path.join(folder, "last.pth"), weights_only=True)
    assert last["epoch"] == 3 and last["arch"] == TINY_ARCH
    conf["train"]["epochs"] = 4
    result = run_train(tmp_path, conf, "--use_psa", "true")
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith(
        f"error: --use_psa true contradicts {folder}/last.pth, which was trained with false"
    )
