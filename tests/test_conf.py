import copy

import pytest

from conftest import run_script
from config import ConfError, SCHEMA, validate_section


def test_repo_conf_has_every_key_of_every_section(repo_conf):
    for section, schema in SCHEMA.items():
        assert set(repo_conf[section]) == set(schema), section


def test_guide_keys_are_kept(repo_conf):
    guide = {
        "train": "image_size discriminator_image_size train_data_dir valid_data_dir batch_size init_lr final_lr weight_decay "
        "discriminator_init_lr discriminator_final_lr discriminator_weight_decay epochs begin_use_adv_loss_epoch "
        "CUDA_VISIBLE_DEVICES num_workers model_save_dir laplacian_level_count layer_count_of_every_unet "
        "first_layer_out_channels_of_every_unet color_jitter_brightness color_jitter_saturation "
        "color_jitter_contrast color_jitter_hue use_iaff iaff_r use_psa",
        "predict": "img_pth image_size use_orig_size result_output_dir pretrained_model show_result laplacian_level_count",
        "convert_to_onnx": "pth_file_path dummy_input_image_size onnx_output_path dynamic_bhw laplacian_level_count",
        "convert_to_rknn": "ONNX_MODEL RKNN_MODEL laplacian_level_count rknn_batch_size target_platform image_size "
        "do_inference inference_image_path inference_out_path",
    }
    for section, keys in guide.items():
        assert set(keys.split()) <= set(repo_conf[section]), section


def _train(repo_conf, tmp_path, **changes):
    conf = copy.deepcopy(repo_conf)
    conf["train"].update(
        train_data_dir=str(tmp_path),
        paired_train_input_dir="",
        paired_train_gt_dir="",
        paired_valid_input_dir="",
        paired_valid_gt_dir="",
    )
    conf["train"].update(changes)
    return conf


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"batch_sise": 4}, "unknown key 'batch_sise'"),
        ({"batch_size": "8"}, "key 'batch_size' must be a positive integer, got '8'"),
        ({"batch_size": 0}, "key 'batch_size' must be a positive integer"),
        ({"use_iaff": 1}, "key 'use_iaff' must be true or false"),
        ({"image_size": [256]}, "key 'image_size' must be \\[height, width\\]"),
        ({"color_jitter_hue": 0.7}, "key 'color_jitter_hue' must be a number in \\[0, 0.5\\]"),
        (
            {"layer_count_of_every_unet": [4, 3, 3]},
            "key 'layer_count_of_every_unet' must be a list of 4 positive integers",
        ),
        ({"train_data_dir": "/no/such/folder"}, "key 'train_data_dir' must be an existing folder"),
    ],
)
def test_validation_names_the_key(repo_conf, tmp_path, changes, message):
    with pytest.raises(ConfError, match=message):
        validate_section(_train(repo_conf, tmp_path, **changes), "train")


def test_missing_key_is_named(repo_conf, tmp_path):
    conf = _train(repo_conf, tmp_path)
    del conf["train"]["epochs"]
    with pytest.raises(ConfError, match="missing key 'epochs'"):
        validate_section(conf, "train")


def test_missing_file_is_named(repo_conf, tmp_path):
    conf = copy.deepcopy(repo_conf)
    conf["predict"].update(img_pth=str(tmp_path), pretrained_model="nowhere.pth")
    with pytest.raises(ConfError, match="key 'pretrained_model' must be an existing file, got 'nowhere.pth'"):
        validate_section(conf, "predict")


@pytest.mark.parametrize(
    "script,section",
    [
        ("train.py", "train"),
        ("predict.py", "predict"),
        ("convert_2_onnx.py", "convert_to_onnx"),
        ("convert_2_rknn.py", "convert_to_rknn"),
        ("evaluate.py", "evaluate"),
    ],
)
def test_scripts_exit_2_with_one_line(repo_conf, tmp_path, script, section):
    conf = copy.deepcopy(repo_conf)
    # A key every one of these sections validates as a number; "four" must stop the script at once
    # (before any work: the evaluate section's default data may be present beside the repo).
    conf[section][
        "laplacian_level_count" if "laplacian_level_count" in conf[section] else "max_side"
    ] = "four"
    result = run_script(script, tmp_path, conf)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "key '" in lines[0], result.stderr
