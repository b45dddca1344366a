import copy
import json

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
        ({"pair_ev_jitter": 3}, "key 'pair_ev_jitter' must be a number of stops in \\[0, 2\\]"),
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


# Values of every JSON type, and some of each that are nearly right.
WRONG = [None, True, -1, 0, 3.5, 1e308, "", "x", "auto", [], [1], [1, "a"], [[1, 2]], {}, {"a": 1}]


def _one_line_exit_2(call, capsys):
    with pytest.raises(SystemExit) as stop:
        call()
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize("top", [[1, 2], 5, "conf", None, True, []])
def test_a_conf_that_is_not_an_object_is_one_line(tmp_path, capsys, top):
    from config import load_section

    path = tmp_path / "conf.json"
    path.write_text(json.dumps(top))
    line = _one_line_exit_2(lambda: load_section(str(path), "predict"), capsys)
    assert "must hold a JSON object with one object per section" in line


@pytest.mark.parametrize("value", WRONG[:11])
def test_a_section_of_the_wrong_type_is_one_line(tmp_path, capsys, value):
    from config import load_section

    path = tmp_path / "conf.json"
    path.write_text(json.dumps({"predict": value}))
    line = _one_line_exit_2(lambda: load_section(str(path), "predict"), capsys)
    assert "section 'predict' must be an object of keys" in line


@pytest.mark.parametrize("section", sorted(SCHEMA))
def test_every_key_of_every_section_given_every_wrong_type_is_one_line(repo_conf, tmp_path, capsys, section):
    """load_section fuzzed: each key in turn takes each value of WRONG; whatever the value, the
    result is a valid section or one line naming that key, and exit 2 (never a traceback)."""
    from config import load_section

    base = _train(repo_conf, tmp_path)  # a valid conf without the data a fresh clone lacks
    base["evaluate"]["data_dir"] = str(tmp_path)
    base["convert_to_rknn"]["ONNX_MODEL"] = base["predict"]["pretrained_model"]  # any file is valid
    for key in SCHEMA[section]:
        for value in WRONG:
            conf = copy.deepcopy(base)
            conf[section][key] = value
            path = tmp_path / "conf.json"
            path.write_text(json.dumps(conf))
            try:
                load_section(str(path), section)
            except SystemExit as stop:
                err = capsys.readouterr().err.strip().splitlines()
                assert stop.code == 2 and len(err) == 1 and f"'{key}'" in err[0], (key, value, err)
            # the same through the command line's overrides
            try:
                load_section(write_conf_file(tmp_path, base), section, {key: value})
            except SystemExit as stop:
                err = capsys.readouterr().err.strip().splitlines()
                assert stop.code == 2 and len(err) == 1 and err[0].startswith("error: command line"), err


def write_conf_file(tmp_path, conf):
    path = tmp_path / "base.json"
    if not path.exists():
        path.write_text(json.dumps(conf))
    return str(path)


def test_a_conf_that_is_not_text_is_one_line(tmp_path, capsys):
    from config import load_section

    path = tmp_path / "conf.json"
    path.write_bytes(b"\xff\xfe\x00binary")
    assert "conf.json" in _one_line_exit_2(lambda: load_section(str(path), "predict"), capsys)
    line = _one_line_exit_2(lambda: load_section(str(tmp_path), "predict"), capsys)  # a folder
    assert "cannot read the conf file" in line
