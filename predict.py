"""Correct the exposure of photos and videos with a trained model.

`python predict.py [PATH ...] [--batch N] [--KEY VALUE ...]` reads the `predict` section of
conf.json (`--conf` for another file); `--KEY VALUE` overrides any of its keys for this run,
e.g. `--strength 0.7`. The photos, videos or folders named on the command line replace
`img_pth` (a photo, a video or a folder of both, or a list of them).

A .pth model runs in PyTorch (CUDA when present); a .onnx model runs in ONNX Runtime and imports
no torch. Large photos run at `max_side` on the long side and the correction is lifted back to
full resolution by guided upsampling (a local affine colour transform), as in the paper's
protocol. Videos are corrected frame by frame with the correction smoothed over time, and
written as MP4 with their audio.
"""

import os
import sys
import time

import numpy as np
from tqdm import tqdm

from inference import lazy_results, load_backend, network_size
from photo import ImageReadError, output_paths, photo_pixels, read_photo, write_photo
from config import ConfError, arch_of, argument_parser, asked_arch, correction_settings, parse_with_conf
from utils import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, fail, list_images


def main():
    parser = argument_parser(__doc__, "predict")
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="photos, videos or folders to correct (replace img_pth)"
    )
    parser.add_argument("--batch", type=int, default=1, help="photos per network call when their sizes match")
    args, conf = parse_with_conf(parser, "predict", positional=("paths", "img_pth"))
    if args.batch < 1:
        fail(f"--batch must be at least 1, got {args.batch}")
    try:
        backend = load_backend(conf["pretrained_model"], asked_arch(conf, args.given), arch_of(conf))
    except (ConfError, ValueError) as e:
        fail(str(e))
    started = time.time()
    img_pths = conf["img_pth"] if isinstance(conf["img_pth"], list) else [conf["img_pth"]]
    photos, videos, roots = gather_inputs(img_pths, conf["result_output_dir"])
    out_dir = os.path.abspath(conf["result_output_dir"])
    correction = correction_settings(conf)
    failed = []
    done = correct_photos(
        photos,
        output_paths(photos, roots, out_dir, conf["output_format"]),
        backend,
        correction,
        args.batch,
        conf["show_result"],
        conf["strip_metadata"],
        failed,
        conf["max_megapixels"],
        conf["respect_exposure_compensation"],
    )
    if videos:
        done += correct_videos(
            videos,
            output_paths(videos, roots, out_dir, "mp4"),
            backend,
            correction,
            conf["temporal_smoothing"],
            conf["video_crf"],
            failed,
        )
    for message in failed:
        print(f"error: {message}", file=sys.stderr)
    print(
        f"{done} corrected, {len(failed)} unreadable, {time.time() - started:.1f} s; "
        f"results in {conf['result_output_dir']}"
    )
    sys.exit(1 if failed else 0)


def gather_inputs(img_pths, result_output_dir):
    """Photos and videos under each of img_pths (files or folders, subfolders too), and for each
    the folder its relative output path starts from. Other files are skipped with a note."""
    out_dir = os.path.abspath(result_output_dir)
    roots = {}
    for img_pth in img_pths:
        files = [img_pth] if os.path.isfile(img_pth) else sum(list_images(img_pth), [])
        root = img_pth if os.path.isdir(img_pth) else os.path.dirname(img_pth)
        if out_dir != os.path.abspath(root):
            # Results in a subfolder of the input folder are not read back as inputs on the next run.
            files = [p for p in files if not os.path.abspath(p).startswith(out_dir + os.sep)]
        for path in files:
            roots.setdefault(path, root)
    files = sorted(roots)
    ext = lambda p: os.path.splitext(p)[1].lower()
    videos = [p for p in files if ext(p) in VIDEO_EXTENSIONS]
    photos = [
        p for p in files if ext(p) not in VIDEO_EXTENSIONS and (ext(p) in IMAGE_EXTENSIONS or p in img_pths)
    ]
    for path in files:
        if path not in photos and path not in videos:
            print(f"note: skipping {path}: neither a photo nor a video")
    if not photos and not videos:
        fail(
            f"no photos or videos found in {', '.join(img_pths)} (looked for JPEG, PNG, TIFF, WebP, HEIC, BMP, "
            f"camera RAW and {', '.join(e.lstrip('.') for e in VIDEO_EXTENSIONS)} files)",
            code=1,
        )
    return photos, videos, roots


def correct_photos(
    paths, outputs, backend, correction, batch_size, show, strip, failed, max_megapixels, intent=True
):
    """Correct and write each photo, in its own colour profile and with its metadata unless `strip`;
    unreadable ones are added to `failed`. With `intent`, a photo shot with exposure compensation is
    corrected against it less (inference.intended_strength). Returns how many were written."""
    done = 0
    bar = tqdm(total=len(paths), desc="correcting", unit="photo", disable=len(paths) < 2)
    for batch in read_batches(paths, batch_size, backend, correction, failed, max_megapixels):
        # unclipped: write_photo clips in the photo's own colour space (wide gamuts reach beyond sRGB)
        biases = [photo["info"].get("exposure_bias") for photo in batch] if intent else None
        notes = []
        results = lazy_results(
            [photo["rgb"] for photo in batch], backend, **correction, clip=False, biases=biases, notes=notes
        )
        for i, note in notes:
            tqdm.write(f"note: {batch[i]['path']}: {note}", file=sys.stderr)
        for photo, result in zip(batch, results):
            out_path = outputs[photo["path"]]
            try:
                # the result's samples take the input's place: shown side by side, the input is kept
                into = None if show else getattr(photo["rgb"], "samples", None)
                write_photo(out_path, result, photo["alpha"], photo["info"], strip, into)
            except (OSError, RuntimeError, ValueError, TypeError) as e:  # encoders raise all of these
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                failed.append(f"could not write {out_path} ({photo['path']}): {first}; the folder goes on")
                continue
            if show:
                full = result if isinstance(result, np.ndarray) else result(0, result.shape[0])
                show_side_by_side(photo_pixels(photo["rgb"]), full, out_path)
            done += 1
        bar.update(len(batch))
    bar.close()
    return done


def correct_videos(paths, outputs, backend, correction, smoothing, crf, failed):
    """Correct each video into an MP4 (video.correct_video), a progress bar in frames per video."""
    import video  # PyAV: only the video path needs it

    done = 0
    for path in paths:
        try:
            frames = video.probe(path)[0]
            with tqdm(total=frames or None, desc=os.path.basename(path), unit="frame") as bar:
                video.correct_video(
                    path,
                    outputs[path],
                    backend,
                    correction["max_side"],
                    correction["image_size"],
                    correction["ensemble"],
                    correction["strength"],
                    smoothing,
                    crf,
                    bar.update,
                )
            done += 1
        except video.VideoReadError as e:
            failed.append(str(e))
    return done


# ---------------------------------------------------------------- files


def read_batches(paths, batch_size, backend, correction, failed, max_megapixels):
    """Yield lists of decoded photos (dicts) that share a network size, at most batch_size each;
    unreadable files (or over max_megapixels) are appended to `failed` and left out."""
    batch = []
    for path in paths:
        try:
            rgb, alpha, info = read_photo(
                path, max_megapixels, rows=True
            )  # strips: the photo stays in its samples
        except ImageReadError as e:
            failed.append(str(e))
            continue
        if info.get("note"):  # read, but not as the file said (a RAW's white level)
            tqdm.write(f"note: {path}: {info['note']}", file=sys.stderr)
        photo = {"path": path, "rgb": rgb, "alpha": alpha, "info": info}
        size = lambda p: network_size(*p.shape[:2], backend, correction["max_side"], correction["image_size"])
        if batch and (len(batch) == batch_size or size(rgb) != size(batch[0]["rgb"])):
            yield batch
            batch = []
        batch.append(photo)
    if batch:
        yield batch


def show_side_by_side(before, after, out_path):
    """A figure of input and output; saved beside the output when there is no display."""
    import matplotlib

    headless = sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
    if headless:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, image, title in zip(axes, (before, after), ("input", "corrected")):
        ax.imshow(np.clip(image, 0, 1)), ax.set_title(title), ax.axis("off")
    fig.tight_layout()
    if headless:
        fig.savefig(os.path.splitext(out_path)[0] + "_side_by_side.png", dpi=80)
    else:
        plt.show()
    plt.close(fig)


if __name__ == "__main__":
    main()
