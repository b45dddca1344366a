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
import ctypes
import ctypes.util
import errno
import gc
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import zipfile

import numpy as np
from starlette.requests import ClientDisconnect

from inference import (
    correction_renderer,
    intended_strength,
    intent_note,
    load_backend,
    prepare_correction,
    render_correction,
    shrink,
)
from photo import ImageReadError, download_names, photo_size, read_photo, write_image, write_photo
from config import ConfError, arch_of, argument_parser, asked_arch, parse_with_conf
from utils import fail, fit_long_side

PREVIEW_SIDE = 1280  # the page shows photos at most this large; downloads are full size
SHIPPED_MODEL, SHIPPED_RELEASE = "data/exposure_correct_default.pth", "2026-12"
FORMATS = "JPEG, PNG, TIFF, WebP, HEIC, camera RAW"
# the compare slider's Undo is for drawing on an image, which this page never does: not shown
PAGE_CSS = '#compare button[aria-label="Undo"] { display: none; }'
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
    import gradio as gr

    print(f"serving the page on http://{args.host}:{args.port} (Ctrl+C stops it)", flush=True)
    page.queue(default_concurrency_limit=1).launch(
        server_name=args.host,
        server_port=args.port,
        share=False,
        quiet=True,  # gradio's own lines offer a public link, which this page never makes
        theme=offline_theme(),
        footer_links=[],
        max_file_size=f"{args.max_upload_mb:g}mb",
        app_kwargs={"exception_handlers": {ClientDisconnect: client_gone}},
        css=PAGE_CSS,
        i18n=gr.I18n(
            en={"upload_text.drop_file": "Drop photos here", "upload_text.click_to_upload": "Click to choose"}
        ),
    )


def give_back_memory():
    """Return what a request freed to the system. gradio runs handlers on a pool of threads and
    glibc keeps each thread's freed blocks in an arena of its own, which RSS goes on counting after
    the photos are gone; malloc_trim releases the free pages of every arena. Elsewhere, a no-op."""
    gc.collect()
    if LIBC is not None:
        LIBC.malloc_trim(0)


def load_libc():
    """glibc, with at most two malloc arenas (fewer places for freed memory to stay), or None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim, libc.mallopt  # glibc only
    except (OSError, AttributeError):
        return None
    libc.mallopt(-8, 2)  # M_ARENA_MAX
    return libc


LIBC = load_libc()


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
            reason = (e.reason or "").replace(path, "the file")  # the server's paths are not the user's
            messages.append(
                f"{name} {reason}" if reason else f"{name} is not a photo this page reads ({FORMATS})"
            )
            continue
        photos.append({"name": name, "path": path, "rgb": rgb, "alpha": alpha, "info": info})
    labels = [p["name"] for p in photos]
    for i, photo in enumerate(photos):  # two uploads of one name stay two entries: "photo.jpg (2)"
        same = labels[:i].count(photo["name"])
        photo["label"] = photo["name"] if not same else f"{photo['name']} ({same + 1})"
    return photos, messages


def prepare(photos, backend, max_side, ensemble, intent=True):
    """Run the network once per photo at the working size and keep only its fitted maps (what a new
    strength needs), and with `intent` the share of any strength a photo shot with exposure
    compensation takes (inference.intended_strength, as predict.py); returns the seconds it took."""
    started = time.perf_counter()
    for photo in photos:
        correction = prepare_correction(photo["rgb"], backend, max_side, None, ensemble)
        bias = photo["info"].get("exposure_bias") if intent else None
        share = intended_strength(1.0, bias, correction["low_in"], correction["low_out"])
        photo["correction"] = {"maps": correction["maps"], "share": share, "native": correction["native"]}
        photo["intent"] = intent_note(bias, share) if share != 1 else None
    return time.perf_counter() - started


def render(photos, strength, out_dir, output_format):
    """Each photo's result at `strength`, written at full size as predict.py writes it, with its
    before / after previews as files beside it (photo["preview"]). A photo's full-size pixels are
    let go once it is written: what the page keeps of a photo is its path, its metadata, its maps
    and its previews' paths, so a new strength reads the upload again. Returns the files, the
    seconds it took and a message for each photo that could not be rendered or written."""
    started, files, messages = time.perf_counter(), [], []
    names = download_names([p["name"] for p in photos], [p["label"] for p in photos], output_format)
    for i, (photo, name) in enumerate(zip(photos, names)):
        out = os.path.join(out_dir, name)
        try:
            rgb, alpha, info = pixels(photo)
        except ImageReadError:  # gradio removed the upload (an hour on)
            messages.append(f"{photo['name']} is no longer on the server: drop it again")
            continue
        try:  # rendered strip by strip as it is written (predict.py's path): no full-size result in float
            own = strength * photo["correction"]["share"]  # the photographer's stated intent
            write_photo(out, correction_renderer(rgb, photo["correction"], own, clip=False), alpha, info)
        except (OSError, RuntimeError, ValueError, TypeError) as e:  # encoders raise all of these
            messages.append(f"{photo['name']} could not be written ({str(e).splitlines()[0][:80]})")
            continue
        photo["preview"] = write_previews(
            rgb, photo["correction"], own, os.path.join(out_dir, ".previews"), i
        )
        files.append(out)
    return files, time.perf_counter() - started, messages


def zip_results(files, out_dir):
    """All results in one zip (stored: photos are compressed already), under their own names;
    None for fewer than two."""
    if len(files) < 2:
        return None
    path = os.path.join(out_dir, "corrected_photos.zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for f in files:
            archive.write(f, os.path.basename(f))
    return path


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
    native = correction.get("native")  # maps in the photo's own profile space: shown in sRGB
    before = np.clip(shrink(rgb.native if native else rgb, h, w), 0, 1)
    after = render_correction(before, correction, strength, clip=False)
    paths = []
    for kind, x in (("before", before), ("after", after)):
        paths.append(os.path.join(folder, f"{index}_{kind}.jpg"))
        write_image(paths[-1], np.clip(rgb.to_srgb(x) if native else x, 0, 1))
    return tuple(paths)


def status_line(model, photos, messages, times, settings=None):
    """The settings behind the result shown, how long it took (times: {part: seconds}, "total"
    from the uploaded files to the result), a note for each photo read differently from what its
    file says (information) and a warning for each photo refused or not written."""
    lines = [f"**{model}**"]
    if photos and times:
        strength, side, ensemble = settings
        lines[0] += (
            f" · strength **{strength:g}** · working size **{side:g} px**"
            f" · self-ensemble **{'on' if ensemble else 'off'}**"
        )
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in times.items() if k != "total")
        network = "" if "network" in times else "; network not rerun"
        count = f"{len(photos)} photo{'s' * (len(photos) > 1)}"
        lines.append(f"{count} in {times['total']:.1f} s ({parts}{network})")
    notes = [f"ℹ {p['name']}: {p['info']['note']}" for p in photos if p.get("info", {}).get("note")]
    notes += [f"ℹ {p['label']}: {p['intent']}" for p in photos if p.get("intent")]
    return "  \n".join(lines + notes + [f"⚠ {m}" for m in messages])


def model_label(path):
    """The model by what it is: the shipped one by its release, any other by its file name."""
    shipped = os.path.abspath(path) == os.path.abspath(SHIPPED_MODEL)
    return f"shipped model ({SHIPPED_RELEASE})" if shipped else f"model {os.path.basename(path)}"


# ---------------------------------------------------------------- the page


def build_page(backend, conf, max_megapixels):
    import gradio as gr

    out_root = tempfile.mkdtemp(prefix="results-", dir=os.environ.get("GRADIO_TEMP_DIR"))
    atexit.register(shutil.rmtree, out_root, True)  # this page's own results, when the server stops
    model, fmt = model_label(conf["pretrained_model"]), conf["output_format"]
    intent = conf["respect_exposure_compensation"]

    def correct(files, strength, max_side, ensemble):
        started = time.perf_counter()
        prune(out_root, 3600)
        photos, refused = load_photos(files, max_megapixels)
        settings = (float(strength), int(max_side), bool(ensemble))
        if not photos:
            refused = refused or ["Drop one or more photos first."]
            empty = gr.update(choices=[], value=None)
            return [], refused, None, empty, None, None, None, status_line(model, [], refused, {})
        times = {"decoding": time.perf_counter() - started}
        times["network"] = prepare(photos, backend, settings[1], settings[2], intent)
        out_dir = tempfile.mkdtemp(dir=out_root)
        downloads, times["rendering and writing"], failed = render(photos, strength, out_dir, fmt)
        names = [p["label"] for p in photos]
        times["total"] = time.perf_counter() - started
        give_back_memory()
        return (
            photos,
            refused,
            settings,
            gr.update(choices=names, value=names[0]),
            photos[0].get("preview"),
            downloads,
            zip_results(downloads, out_dir),
            status_line(model, photos, refused + failed, times, settings),
        )

    def rerun(files, strength, max_side, ensemble, photos, shown):
        """A new working size or self-ensemble: the network again, once per value settled."""
        if not photos or shown is None or (int(max_side), bool(ensemble)) == tuple(shown[1:]):
            return (gr.skip(),) * len(outputs)
        return correct(files, strength, max_side, ensemble)

    def restrength(photos, refused, shown, strength, name):
        """A new strength: rendered from the fitted maps, once per value settled."""
        if not photos or shown is None or float(strength) == shown[0]:
            return (gr.skip(),) * 5
        started, shown = time.perf_counter(), (float(strength), *shown[1:])
        out_dir = tempfile.mkdtemp(dir=out_root)
        downloads, render_s, failed = render(photos, strength, out_dir, fmt)
        times = {"reading and rendering": render_s, "total": time.perf_counter() - started}
        status = status_line(model, photos, refused + failed, times, shown)
        give_back_memory()
        return shown, show(photos, name), downloads, zip_results(downloads, out_dir), status

    def show(photos, name):
        chosen = [p for p in photos or [] if p["label"] == name]
        return chosen[0].get("preview") if chosen else None

    with gr.Blocks(title="exposure-correct", delete_cache=(600, 3600)) as page:
        c = page_components(gr, conf)
        outputs = [c["photos"], c["refused"], c["shown"], c["choice"], c["slider"], c["downloads"], c["zip"]]
        outputs.append(c["status"])
        inputs = [c["files"], c["strength"], c["max_side"], c["ensemble"]]
        c["run"].click(correct, inputs, outputs, api_name="correct")
        # .change fires for every way a value changes (drag, click, typed + Enter or Tab, arrow keys,
        # the reset button); always_last drops the values passed over while a render runs, and the
        # handlers skip a value already shown (a reset fires twice), so the result matches the controls.
        for control in (c["max_side"], c["ensemble"]):
            control.change(
                rerun, inputs + [c["photos"], c["shown"]], outputs, api_name=False, trigger_mode="always_last"
            )
        c["strength"].change(
            restrength,
            [c["photos"], c["refused"], c["shown"], c["strength"], c["choice"]],
            [c["shown"], c["slider"], c["downloads"], c["zip"], c["status"]],
            api_name=False,
            trigger_mode="always_last",
        )
        c["choice"].change(show, [c["photos"], c["choice"]], c["slider"], api_name=False)
    return page


def page_components(gr, conf):
    """The page's controls, laid out, in a photographer's words."""
    gr.Markdown(
        "# exposure-correct\nDrop over- or under-exposed photos; compare before and after, adjust, "
        f"download. Takes {FORMATS} (phone and camera files), up to {conf['max_megapixels']:g} MP each. "
        "Nothing leaves this computer."
    )
    # a session's state is small (paths, metadata, low-resolution maps) and goes when it ends or idles
    c = {k: gr.State(v, time_to_live=SESSION_SECONDS) for k, v in (("photos", []), ("refused", []))}
    c["shown"] = gr.State(None, time_to_live=SESSION_SECONDS)  # (strength, size, ensemble) of the result
    with gr.Row():
        c["files"] = gr.File(file_count="multiple", type="filepath", label="Photos")
        with gr.Column():
            c["strength"] = gr.Slider(
                0, 2, value=conf["strength"], step=0.05, label="Strength", elem_id="strength",
                info="how far to correct: 0 leaves the photo as it is, 1 is the model's correction, "
                "above 1 goes further",
            )
            c["max_side"] = gr.Slider(
                64, 1024, value=conf["max_side"], step=64, label="Working size (px)", elem_id="working_size",
                info="the size the model looks at (results are always full size); it was trained at 128",
            )
            c["ensemble"] = gr.Checkbox(
                value=conf["self_ensemble"], label="Self-ensemble", elem_id="ensemble",
                info="average the model over four mirrored copies: a little steadier, 4x the model's time",
            )
            c["run"] = gr.Button("Correct", variant="primary", elem_id="correct")
    c["status"] = gr.Markdown(elem_id="status")
    c["choice"] = gr.Dropdown(choices=[], label="Photo shown")
    # no download button on the previews: the full-size results with their metadata are below
    c["slider"] = gr.ImageSlider(
        label="Before (left) / after (right): drag to compare", type="filepath", buttons=["fullscreen"],
        interactive=False, elem_id="compare",
    )
    c["downloads"] = gr.File(
        file_count="multiple", label="Results at full resolution, with their metadata", elem_id="downloads",
        interactive=False,
    )
    c["zip"] = gr.DownloadButton("Download all (zip)", value=None, elem_id="zip")
    return c


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
