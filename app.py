"""A page in the browser to correct photos: drop them, compare before and after, adjust, download.

`python app.py [--host 127.0.0.1] [--port 7860] [--KEY VALUE ...]` serves the page on this machine
only (no public share link, no analytics, nothing fetched from the internet) with the `predict`
section's model and settings (`--pretrained_model other.pth` for another). Photos go through the
code predict.py uses: photo.read_photo, inference.prepare_correction / render_correction (which
inference.correct_batch is made of) and photo.write_photo, so a download is what predict.py
writes (full resolution, the photo's own format, its colour profile and metadata). A new strength
re-renders from the fitted maps without running the network; a new working size runs it again.
Requests queue, one photo set at a time, so two users both get their results.
"""

import atexit
import errno
import os
import shutil
import signal
import socket
import sys
import tempfile
import time

import numpy as np
from starlette.requests import ClientDisconnect

from inference import correction_renderer, load_backend, prepare_correction, render_correction, shrink
from photo import ImageReadError, photo_size, read_photo, result_paths, write_image, write_photo
from config import ConfError, arch_of, argument_parser, asked_arch, parse_with_conf
from utils import fail, fit_long_side

PREVIEW_SIDE = 1280  # the page shows photos at most this large; downloads are full size
SESSION_SECONDS = 3600  # a session's photos are forgotten this long after its last use (as its files)


def parse_args():
    parser = argument_parser(__doc__, "predict")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default: this machine only)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument(
        "--max-upload-mb", type=float, default=200, help="refuse uploads larger than this (default 200 MB)"
    )
    return parse_with_conf(parser, "predict")


def main():
    args, conf = parse_args()
    if not 0 < args.port < 65536:
        fail(f"--port must be in 1..65535, got {args.port}")
    if args.max_upload_mb <= 0:
        fail(f"--max-upload-mb must be above 0, got {args.max_upload_mb:g}")
    try:
        backend = load_backend(conf["pretrained_model"], asked_arch(conf, args.given), arch_of(conf))
    except (ConfError, ValueError) as e:
        fail(str(e))
    check_port(args.host, args.port)  # said before the page is built, not as gradio's traceback
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    private_cache()
    page = build_page(backend, conf, conf["max_megapixels"])
    page.queue(default_concurrency_limit=1).launch(
        server_name=args.host,
        server_port=args.port,
        share=False,
        theme=offline_theme(),
        footer_links=[],
        max_file_size=f"{args.max_upload_mb:g}mb",
        app_kwargs={"exception_handlers": {ClientDisconnect: client_gone}},
    )


def check_port(host, port):
    """One line and exit 2 if the page cannot listen on host:port (taken, or not this machine's)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, port))
        except OSError as e:
            taken = e.errno == errno.EADDRINUSE
            fail(
                f"port {port} is taken on {host}: choose another with --port" if taken
                else f"cannot serve on {host}:{port} ({e.strerror}): check --host and --port"
            )


# ---------------------------------------------------------------- the work (no gradio here)


def load_photos(paths, max_megapixels):
    """Decoded photos ({name, path, rgb, alpha, info}) and a message for each file refused."""
    photos, messages = [], []
    for path in paths or []:
        # the HTTP API may hand over gradio's file object rather than its path: LibRaw needs the path
        path = os.fspath(getattr(path, "path", None) or getattr(path, "name", None) or path)
        name = os.path.basename(path)
        try:
            h, w = photo_size(path)
            if h * w > max_megapixels * 1e6:
                messages.append(
                    f"{name} is {h * w / 1e6:.0f} MP; this page takes up to {max_megapixels:.0f} MP"
                )
                continue
            rgb, alpha, info = read_photo(path, 0, rows=True)  # the size was checked just above
        except ImageReadError as e:
            messages.append(
                f"{name} {e.reason}"
                if e.reason
                else f"{name} is not a photo this page reads (JPEG, PNG, TIFF, WebP, HEIC, camera RAW)"
            )
            continue
        photos.append({"name": name, "path": path, "rgb": rgb, "alpha": alpha, "info": info})
        if info.get("note"):  # read, but not as the file said (a RAW's white level)
            messages.append(f"{name}: {info['note']}")
    labels = [p["name"] for p in photos]
    for i, photo in enumerate(photos):  # two uploads of one name stay two entries: "photo.jpg (2)"
        same = labels[:i].count(photo["name"])
        photo["label"] = photo["name"] if not same else f"{photo['name']} ({same + 1})"
    return photos, messages


def prepare(photos, backend, max_side, ensemble):
    """Run the network once per photo at the working size and keep only its fitted maps (what a new
    strength needs); returns the seconds it took."""
    started = time.perf_counter()
    for photo in photos:
        photo["correction"] = {
            "maps": prepare_correction(photo["rgb"], backend, max_side, None, ensemble)["maps"]
        }
    return time.perf_counter() - started


def render(photos, strength, out_dir, output_format):
    """Each photo's result at `strength`, written at full size as predict.py writes it, with its
    before / after previews as files beside it (photo["preview"]). A photo's full-size pixels are
    let go once it is written: what the page keeps of a photo is its path, its metadata, its maps
    and its previews' paths, so a new strength reads the upload again. Returns the files, the
    seconds it took and a message for each photo that could not be rendered or written."""
    started, files, messages = time.perf_counter(), [], []
    paths = [p["path"] for p in photos]
    for i, (photo, out) in enumerate(
        zip(photos, result_paths(paths, dict.fromkeys(paths), out_dir, output_format))
    ):
        try:
            rgb, alpha, info = pixels(photo)
        except ImageReadError:  # gradio removed the upload (an hour on)
            messages.append(f"{photo['name']} is no longer on the server: drop it again")
            continue
        try:  # rendered strip by strip as it is written (predict.py's path): no full-size result in float
            write_photo(out, correction_renderer(rgb, photo["correction"], strength, clip=False), alpha, info)
        except (OSError, RuntimeError, ValueError, TypeError) as e:  # encoders raise all of these
            messages.append(f"{photo['name']} could not be written ({str(e).splitlines()[0][:80]})")
            continue
        photo["preview"] = write_previews(
            rgb, photo["correction"], strength, os.path.join(out_dir, ".previews"), i
        )
        files.append(out)
    return files, time.perf_counter() - started, messages


def pixels(photo):
    """(rgb, alpha, info): the decoded photo the first time (then dropped), else the upload read again."""
    if "rgb" in photo:
        return photo.pop("rgb"), photo.pop("alpha"), photo["info"]
    rgb, alpha, info = read_photo(photo["path"], 0, rows=True)
    return rgb, alpha, info


def write_previews(rgb, correction, strength, folder, index):
    """(before, after) at most PREVIEW_SIDE on the long side, as JPEG files; their paths. The
    after is the correction's maps applied to the shrunk photo (they hold at any size)."""
    os.makedirs(folder, exist_ok=True)
    h, w = fit_long_side(*rgb.shape[:2], PREVIEW_SIDE)
    before = np.clip(shrink(rgb, h, w), 0, 1)
    paths = []
    for kind, x in (("before", before), ("after", render_correction(before, correction, strength))):
        paths.append(os.path.join(folder, f"{index}_{kind}.jpg"))
        write_image(paths[-1], x)
    return tuple(paths)


def status_line(model, photos, messages, times):
    """times: {part: seconds}, "total" the time from the uploaded files to the result."""
    lines = [f"**model** `{model}`"]
    if photos and times:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in times.items() if k != "total")
        network = "" if "network" in times else "; network not rerun"
        lines.append(f"{len(photos)} photo(s) in {times['total']:.1f} s ({parts}{network})")
    return "  \n".join(lines + [f"⚠ {m}" for m in messages])


# ---------------------------------------------------------------- the page


def build_page(backend, conf, max_megapixels):
    import gradio as gr

    out_root = tempfile.mkdtemp(prefix="results-", dir=os.environ.get("GRADIO_TEMP_DIR"))
    atexit.register(shutil.rmtree, out_root, True)  # this page's own results, when the server stops
    model, fmt = conf["pretrained_model"], conf["output_format"]

    def correct(files, strength, max_side, ensemble):
        started = time.perf_counter()
        prune(out_root, 3600)
        photos, refused = load_photos(files, max_megapixels)
        if not photos:
            refused = refused or ["Drop one or more photos first."]
            empty = gr.update(choices=[], value=None)
            return [], refused, empty, None, None, status_line(model, [], refused, {})
        times = {"decoding": time.perf_counter() - started}
        times["network"] = prepare(photos, backend, int(max_side), bool(ensemble))
        downloads, times["rendering and writing"], failed = render(
            photos, strength, tempfile.mkdtemp(dir=out_root), fmt
        )
        names = [p["label"] for p in photos]
        times["total"] = time.perf_counter() - started
        return (
            photos,
            refused,
            gr.update(choices=names, value=names[0]),
            photos[0].get("preview"),
            downloads,
            status_line(model, photos, refused + failed, times),
        )

    def restrength(photos, refused, strength, name):  # the refused files are still named
        if not photos:
            return None, None, status_line(model, [], ["Drop one or more photos first."], {})
        started = time.perf_counter()
        downloads, render_s, failed = render(photos, strength, tempfile.mkdtemp(dir=out_root), fmt)
        times = {"reading and rendering": render_s, "total": time.perf_counter() - started}
        return show(photos, name), downloads, status_line(model, photos, refused + failed, times)

    def show(photos, name):
        chosen = [p for p in photos or [] if p["label"] == name]
        return chosen[0].get("preview") if chosen else None

    # Uploads and results are private photos (GPS included): gradio deletes its cached files an hour
    # after they were made, checking every 10 minutes, and all of them when the server stops.
    with gr.Blocks(title="exposure-correct", delete_cache=(600, 3600)) as page:
        gr.Markdown("# exposure-correct\nDrop over- or under-exposed photos; compare, adjust, download.")
        # a session's state is small (paths, metadata, low-resolution maps) and goes when it ends or idles
        photos, refused = gr.State([], time_to_live=SESSION_SECONDS), gr.State(
            [], time_to_live=SESSION_SECONDS
        )
        with gr.Row():
            files = gr.File(file_count="multiple", type="filepath", label="Photos")
            with gr.Column():
                strength = gr.Slider(0, 2, value=conf["strength"], step=0.05, label="Strength")
                max_side = gr.Slider(
                    64, 1024, value=conf["max_side"], step=64, label="Working size (long side, px)"
                )
                ensemble = gr.Checkbox(value=conf["self_ensemble"], label="Self-ensemble")
                run = gr.Button("Correct", variant="primary", elem_id="correct")
        status = gr.Markdown(elem_id="status")
        choice = gr.Dropdown(choices=[], label="Photo")
        # no download button on the previews: the full-size results with their metadata are below
        slider = gr.ImageSlider(
            label="Before / after", type="filepath", buttons=["fullscreen"], elem_id="compare"
        )
        downloads = gr.File(file_count="multiple", label="Results at full resolution", elem_id="downloads")
        outputs = [photos, refused, choice, slider, downloads, status]
        run.click(correct, [files, strength, max_side, ensemble], outputs, api_name="correct")
        max_side.release(correct, [files, strength, max_side, ensemble], outputs, api_name=False)
        strength.release(
            restrength, [photos, refused, strength, choice], [slider, downloads, status], api_name=False
        )
        choice.change(show, [photos, choice], slider, api_name=False)
    return page


def client_gone(request, exc):
    """A browser that closes or loses its connection mid-upload: nothing to answer, and nothing to
    print (uvicorn would print the exception's traceback)."""
    from starlette.responses import Response

    return Response(status_code=499)


def private_cache():
    """A folder of this server's own for gradio's uploads and results (GRADIO_TEMP_DIR, inside the
    one the environment names, if any), removed when the server stops: at exit, and on SIGTERM or
    SIGHUP, which would otherwise end the process without running exit handlers."""
    base = os.environ.get("GRADIO_TEMP_DIR")
    if base:
        os.makedirs(base, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="exposure-correct-page-", dir=base)
    os.environ["GRADIO_TEMP_DIR"] = folder  # read by gradio when it is imported (build_page)
    atexit.register(shutil.rmtree, folder, True)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(0))
    return folder


def prune(folder, seconds):
    """Remove the result folders under `folder` made more than `seconds` ago (gradio has copied
    them to its own cache, which delete_cache empties)."""
    now = time.time()
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if now - os.path.getmtime(path) > seconds:
            shutil.rmtree(path, ignore_errors=True)


def offline_theme():
    """The default theme with the system's fonts: the stock one fetches web fonts from Google."""
    import gradio as gr

    return gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )


if __name__ == "__main__":
    main()
