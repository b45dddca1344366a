"""The command line: --KEY VALUE overrides for every script, predict.py's positional paths, --help,
and the one-line errors; docs/conf.md documents every key."""

import copy
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, TINY_ARCH, run_script, save_photos, write_conf
from test_evaluate import make_msec
from config import SCHEMA, load_section, parse_value

SCRIPTS = {
    "train.py": "train",
    "predict.py": "predict",
    "evaluate.py": "evaluate",
    "convert_2_onnx.py": "convert_to_onnx",
    "convert_2_rknn.py": "convert_to_rknn",
}


def predict_conf(repo_conf, model, tmp_path):
    conf = copy.deepcopy(repo_conf)
    conf["predict"].update(
        TINY_ARCH,
        pretrained_model=model,
        img_pth=str(tmp_path / "conf_photos"),
        result_output_dir=str(tmp_path / "conf_results"),
    )
    save_photos(str(tmp_path / "conf_photos"), 1)
    return conf


def test_override_sends_results_to_the_folder_named_and_leaves_the_file_alone(
    repo_conf, tiny_checkpoint, tmp_path
):
    conf = predict_conf(repo_conf, tiny_checkpoint[0], tmp_path)
    conf_text = open(write_conf(tmp_path, conf)).read()
    result = run_script("predict.py", tmp_path, conf, "--result_output_dir", str(tmp_path / "fixed"))
    assert result.returncode == 0, result.stderr
    assert os.listdir(tmp_path / "fixed") == ["photo00.png"]
    assert not os.path.exists(tmp_path / "conf_results")
    assert open(tmp_path / "conf.json").read() == conf_text  # overrides change a run, never the file


def test_positional_paths_replace_img_pth(repo_conf, tiny_checkpoint, tmp_path):
    conf = predict_conf(repo_conf, tiny_checkpoint[0], tmp_path)
    singles = save_photos(str(tmp_path / "holiday"), 2, seed=10)
    save_photos(str(tmp_path / "album" / "day2"), 1, seed=20)
    out = tmp_path / "fixed"
    result = run_script(
        "predict.py", tmp_path, conf, *singles, str(tmp_path / "album"), f"--result_output_dir={out}"
    )
    assert result.returncode == 0, result.stderr
    assert "3 corrected" in result.stdout
    # The two photos named are written by name, the folder's photo keeps its subfolder; the
    # conf's own img_pth is not read.
    assert sorted(os.listdir(out)) == ["day2", "photo00.png", "photo01.png"]
    assert os.listdir(out / "day2") == ["photo00.png"]
    assert not os.path.exists(tmp_path / "conf_results")


def test_positional_path_that_does_not_exist_is_one_line(repo_conf, tiny_checkpoint, tmp_path):
    conf = predict_conf(repo_conf, tiny_checkpoint[0], tmp_path)
    result = run_script("predict.py", tmp_path, conf, str(tmp_path / "nothere.jpg"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: no such file or folder: {tmp_path / 'nothere.jpg'}"


def test_evaluate_override_runs_at_another_working_size(repo_conf, tiny_checkpoint, tmp_path):
    make_msec(tmp_path / "data")
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model=tiny_checkpoint[0], data_dir=str(tmp_path / "data"), report_dir=str(tmp_path / "report")
    )
    result = run_script(
        "evaluate.py", tmp_path, conf, "--max_side", "32", "--self_ensemble", "false", "--strength", "0.5"
    )
    assert result.returncode == 0, result.stderr
    report = json.load(open(tmp_path / "report" / "metrics.json"))
    assert (report["max_side"], report["ensemble"], report["strength"]) == (32, False, 0.5)


@pytest.mark.parametrize("script,section", SCRIPTS.items())
@pytest.mark.parametrize(
    "args,message",
    [
        (["--no_such_key", "1"], "command line: [{s}] unknown key 'no_such_key' (--help lists the keys)"),
        (["--{int_key}", "abc"], "command line: [{s}] key '{int_key}' must be a {kind}, got 'abc'"),
        (["--{int_key}=-3"], "command line: [{s}] key '{int_key}' must be a {kind}, got -3"),
    ],
)
def test_bad_override_is_one_line_naming_the_key(repo_conf, tmp_path, script, section, args, message):
    # An integer key each of these sections has; a bad value must stop the script before any work.
    int_key = {"evaluate": "max_side"}.get(section, "laplacian_level_count")
    kind = "non-negative integer" if int_key == "max_side" else "positive integer"
    fill = dict(s=section, int_key=int_key, kind=kind)
    conf = copy.deepcopy(repo_conf)  # data and models that a fresh clone does not have: elsewhere
    for key in ("train_data_dir", "paired_train_input_dir", "paired_train_gt_dir"):
        conf["train"][key] = str(tmp_path)
    for key in ("paired_valid_input_dir", "paired_valid_gt_dir"):
        conf["train"][key] = ""
    conf["evaluate"]["data_dir"] = str(tmp_path)
    conf["convert_to_rknn"]["ONNX_MODEL"] = conf["predict"]["pretrained_model"]
    result = run_script(script, tmp_path, conf, *[a.format(**fill) for a in args])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {message.format(**fill)}"], result.stderr


@pytest.mark.parametrize("script,section", list(SCRIPTS.items()) + [("benchmark.py", "predict")])
def test_help_lists_every_key_with_its_conf_value(repo_conf, script, section):
    result = subprocess.run(
        [sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    text = re.sub(r"\s+", " ", result.stdout)
    for key, value in repo_conf[section].items():
        assert f"--{key} V conf: {json.dumps(value)};" in text, key


def test_an_override_mends_a_file_value_and_a_bad_file_value_names_the_file(repo_conf, tmp_path):
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(data_dir="/no/such/folder", max_side="four")
    result = run_script("evaluate.py", tmp_path, conf, "--data_dir", str(tmp_path))
    conf_path = tmp_path / "conf.json"
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {conf_path}: [evaluate] key 'max_side' must be a non-negative integer, got 'four'"
    )


def test_a_bad_override_is_named_before_a_file_value_that_is_not_here(repo_conf, tmp_path, capsys):
    # A fresh clone has no data/MSEC: what the user typed is still what the error names.
    conf = copy.deepcopy(repo_conf)
    conf["train"]["paired_valid_input_dir"] = "/no/such/folder"
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    with pytest.raises(SystemExit) as exit:
        load_section(str(tmp_path / "conf.json"), "train", {"laplacian_level_count": -3})
    assert exit.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: command line: [train] key 'laplacian_level_count' must be a positive integer, got -3"
    )


def test_existing_flags_keep_working(repo_conf, tiny_checkpoint, tmp_path):
    conf = predict_conf(repo_conf, tiny_checkpoint[0], tmp_path)
    result = run_script("predict.py", tmp_path, conf, "--batch", "0")
    assert result.returncode == 2 and result.stderr.strip() == "error: --batch must be at least 1, got 0"
    make_msec(tmp_path / "data")
    conf["evaluate"].update(model=tiny_checkpoint[0], data_dir=str(tmp_path / "data"))
    result = run_script("evaluate.py", tmp_path, conf, "--limit", "0", "--good-photos")
    assert result.returncode == 2 and "--limit must be at least 1" in result.stderr


def test_values_parse_as_json_where_they_parse():
    assert parse_value("[128,256]", "sizes") == [128, 256]
    assert parse_value("true", "bool") is True and parse_value("0.5", "strength") == 0.5
    assert parse_value("abc", "int") == "abc"  # left for the schema to refuse, naming the key
    assert parse_value("0", "str") == "0" and parse_value("1.pth", "file") == "1.pth"  # strings stay


def test_docs_conf_documents_every_key_of_every_section_with_its_default(repo_conf):
    text = open(os.path.join(ROOT, "docs", "conf.md")).read()
    parts = re.split(r"^## `(\w+)`", text, flags=re.M)
    documented = {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}
    for section, schema in SCHEMA.items():
        assert section in documented, section
        for key in schema:
            row = re.search(rf"^\| `{key}` \| `([^`]*)` \|", documented[section], re.M)
            assert row, f"[{section}] {key} is not documented"
            assert json.loads(row.group(1)) == repo_conf[section][key], f"[{section}] {key}: default differs"
