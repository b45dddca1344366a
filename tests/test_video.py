"""Videos through predict.py: frame count, size, rate and audio kept; no flicker; bad files named."""

import copy
import os

import av
import numpy as np

from conftest import TINY_ARCH, make_photo, run_script, save_photos
from inference import load_backend
from video import correct_video, probe, write_clip


def clip_frames(count, height=48, width=64, seed=0, noise=2.0, ramp=0.0):
    """A static scene with per-frame (luma) noise, optionally brightening by `ramp` per frame. Luma
    noise, because 4:2:0 chroma subsampling itself shifts the mean of per-pixel colour noise."""
    rng = np.random.default_rng(seed)
    base = make_photo(height, width, seed=seed).astype(np.float32) * 0.5
    return [
        np.clip(base * (1 + ramp * i) + rng.normal(0, noise, (height, width, 1)), 0, 255).astype(np.uint8)
        for i in range(count)
    ]


def decoded_means(path):
    with av.open(path) as container:
        return np.array([frame.to_ndarray(format="rgb24").mean() for frame in container.decode(video=0)])


def test_predict_writes_mp4_with_frames_rate_size_and_audio(repo_conf, tiny_checkpoint, tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    write_clip(str(folder / "talk.mov"), clip_frames(12), fps=10, audio_seconds=1.2)
    write_clip(str(folder / "silent.mp4"), clip_frames(7, seed=2), fps=15)
    save_photos(str(folder), 1)
    conf = copy.deepcopy(repo_conf)
    conf["predict"].update(
        TINY_ARCH, pretrained_model=tiny_checkpoint[0], img_pth=str(folder), result_output_dir=str(folder)
    )  # results beside the inputs: never over them
    result = run_script("predict.py", tmp_path, conf)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "3 corrected" in result.stdout
    assert probe(str(folder / "talk.mp4")) == (12, 64, 48, 10.0, True)
    assert probe(str(folder / "silent_mp4_corrected.mp4")) == (7, 64, 48, 15.0, False)
    assert probe(str(folder / "silent.mp4"))[0] == 7  # the input is untouched
    with av.open(str(folder / "talk.mp4")) as container:
        assert container.streams.audio[0].codec_context.name == "aac"  # copied as it was


def test_temporal_smoothing_keeps_a_static_scene_steady(tiny_checkpoint, tmp_path):
    backend = load_backend(tiny_checkpoint[0])
    write_clip(str(tmp_path / "static.mp4"), clip_frames(24, noise=4.0), fps=25)
    correct_video(str(tmp_path / "static.mp4"), str(tmp_path / "out.mp4"), backend, 32, smoothing=0.8, crf=8)
    change = lambda means: float(np.abs(np.diff(means)).mean())
    assert (
        change(decoded_means(str(tmp_path / "out.mp4")))
        <= change(decoded_means(str(tmp_path / "static.mp4"))) + 0.5
    )


def test_strength_zero_returns_the_frames(tiny_checkpoint):
    from video import correct_frame

    backend, state = load_backend(tiny_checkpoint[0]), {}
    for frame in clip_frames(3):
        out = correct_frame(frame, backend, state, 32, None, False, 0.0, 0.8)
        assert out.dtype == np.uint8 and np.abs(out.astype(int) - frame).max() <= 1


def test_corrupt_video_is_named_and_the_rest_processed(repo_conf, tiny_checkpoint, tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    write_clip(str(folder / "good.mp4"), clip_frames(4), fps=10)
    data = open(folder / "good.mp4", "rb").read()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 3])
    (folder / "noise.mkv").write_bytes(os.urandom(3000))
    conf = copy.deepcopy(repo_conf)
    conf["predict"].update(
        TINY_ARCH,
        pretrained_model=tiny_checkpoint[0],
        img_pth=str(folder),
        result_output_dir=str(tmp_path / "out"),
    )
    result = run_script("predict.py", tmp_path, conf)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert any("noise.mkv" in e for e in errors) and "Traceback" not in result.stderr
    assert probe(str(tmp_path / "out" / "good.mp4"))[0] == 4
    assert not [n for n in os.listdir(tmp_path / "out") if ".tmp" in n]


def test_container_metadata_and_display_rotation_are_kept(tiny_checkpoint, tmp_path):
    """A phone's portrait clip: stored landscape with a 90-degree display rotation, a creation
    time and a location tag; the corrected MP4 shows the same way and says the same."""
    tags = {"creation_time": "2021-06-01T12:34:56.000000Z", "title": "holiday", "location": "+51.50-000.12/"}
    write_clip(str(tmp_path / "phone.mp4"), clip_frames(5), fps=10, metadata=tags, rotation=90)
    correct_video(
        str(tmp_path / "phone.mp4"), str(tmp_path / "out.mp4"), load_backend(tiny_checkpoint[0]), 32
    )
    with av.open(str(tmp_path / "out.mp4")) as container:
        kept = {k: container.metadata.get(k) for k in tags}
        rotation = next(container.decode(video=0)).rotation
    assert kept["creation_time"] == tags["creation_time"] and kept["title"] == "holiday"
    assert rotation == 90
