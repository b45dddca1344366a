"""Measure what the README quotes: the generator's size and forward time, end-to-end prediction
time and peak memory per photo, and training throughput. Uses the `predict` section's model.

    python benchmark.py model     # parameters; forward 1x3x512x512 in PyTorch and ONNX Runtime
    python benchmark.py predict   # read + correct + write, 1280x850 and 6000x4000, both backends
    python benchmark.py train     # train.py's images/s against b15f441 and its own network; the step's parts
    python benchmark.py video     # frames/s at 1920x1080, both backends; flicker with and without smoothing
    python benchmark.py data      # training data at scale: start-up time and memory, one worker's items/s
    python benchmark.py gpu       # the CUDA path end to end on generated data (under 10 minutes)
    python benchmark.py memory    # predict.py's peak memory on 12, 48 and 144 MP JPEGs
    python benchmark.py page      # the page's memory over 50 uploads of 12 MP photos in 10 sessions

Each prints a table and writes results/benchmark_<what>.json. Run it on an idle machine.
`--KEY VALUE` overrides a key of the `predict` section (e.g. `--pretrained_model other.pth`).
"""

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from gpu_check import bench_gpu
from train_bench import bench_data, bench_train, tqdm_range
from photo import output_extension, write_image
from config import argument_parser, correction_settings, parse_with_conf
from utils import synthetic_photo

ROOT = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    parser = argument_parser(__doc__, "predict")
    parser.add_argument(
        "what", choices=["model", "predict", "train", "video", "data", "gpu", "page", "memory"]
    )
    parser.add_argument(
        "--train-sizes",
        type=int,
        nargs="+",
        default=[],
        help="train: the working sizes to time (default: the train section's first; each costs minutes)",
    )
    parser.add_argument(
        "--browser",
        action="store_true",
        help="page: drive the page in headless Chromium (playwright) as a photographer does, not the API",
    )
    parser.add_argument(
        "--p3-from",
        default=os.path.join(ROOT, "..", "shared", "data", "realphotos", "iphone_15_pro.heic"),
        help="predict: a photo whose Display P3 profile tags the P3 HEIC row (default: the shared phone "
        "photo)",
    )
    return parse_with_conf(parser, "predict")


def main():
    args, conf = parse_args()
    with tempfile.TemporaryDirectory() as work:
        benches = {
            "model": bench_model,
            "predict": bench_predict,
            "train": bench_train,
            "video": bench_video,
            "data": bench_data,
            "gpu": bench_gpu,
            "page": bench_page,
            "memory": bench_memory,
        }
        result = benches[args.what](
            dict(conf, train_sizes=args.train_sizes, p3_from=args.p3_from, browser=args.browser),
            work,
            args.conf,
        )
    result["machine"] = f"{os.cpu_count()} CPU cores, torch threads {torch_threads()}"
    os.makedirs(os.path.join(ROOT, "results"), exist_ok=True)
    with open(os.path.join(ROOT, "results", f"benchmark_{args.what}.json"), "w") as f:
        json.dump(result, f, indent=2)


def torch_threads():
    import torch

    return torch.get_num_threads()


def export_temp_onnx(pth, work):
    from model import export_onnx, load_generator

    generator, arch = load_generator(pth)
    path = os.path.join(work, "model.onnx")
    export_onnx(generator, arch, path, (1, 3, 512, 512), dynamic=True)
    return path


def median_seconds(fn, repeats=5):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def bench_model(conf, work, conf_path):
    import onnxruntime as ort
    import torch

    from model import load_generator, parameter_count

    generator, arch = load_generator(conf["pretrained_model"])
    x = torch.rand(1, 3, 512, 512)
    with torch.no_grad():
        torch_s = median_seconds(lambda: generator(x))
    session = ort.InferenceSession(
        export_temp_onnx(conf["pretrained_model"], work), providers=["CPUExecutionProvider"]
    )
    ort_s = median_seconds(lambda: session.run(None, {"image": x.numpy()}))
    result = {
        "parameters": parameter_count(generator),
        "arch": arch,
        "forward_512_torch_s": torch_s,
        "forward_512_onnxruntime_s": ort_s,
    }
    print(
        f"| parameters | {result['parameters']:,} |\n"
        f"| forward 1x3x512x512, PyTorch eager | {torch_s:.3f} s |\n"
        f"| forward 1x3x512x512, ONNX Runtime | {ort_s:.3f} s |"
    )
    return result


def predict_case(model, photo, out, repeats, correction, queue):
    """Run in a fresh (spawned) process, as predict.py holds one photo at a time and by its code path
    (read as rows, the network and its maps, the result rendered strip by strip as it is written):
    read, correct and write `photo` `repeats` times; put the stage times (the full-size render in
    "write"), the process's peak memory and the output size."""
    from inference import lazy_results, load_backend
    from photo import read_photo, write_photo

    backend = load_backend(model)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        rgb, alpha, info = read_photo(photo, rows=True)
        t1 = time.perf_counter()
        result = lazy_results([rgb], backend, **correction, clip=False)[0]
        t2 = time.perf_counter()
        write_photo(out, result, alpha, info)
        runs.append([t1 - t0, t2 - t1, time.perf_counter() - t2])
        del rgb, alpha, result
    # VmHWM: this process's own peak (a spawned process shares no pages with its parent).
    peak_kb = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
    queue.put({"runs": runs, "peak_rss_mb": peak_kb / 1024, "output_mb": os.path.getsize(out) / 1e6})


def in_fresh_process(target, *args):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=args + (queue,))
    process.start()
    result = queue.get()
    process.join()
    return result


def bench_predict(conf, work, conf_path):
    models = {
        "PyTorch": conf["pretrained_model"],
        "ONNX Runtime": export_temp_onnx(conf["pretrained_model"], work),
    }
    correction, fmt = correction_settings(conf), conf["output_format"]
    rows = []
    print(
        "| backend | photo | seconds per photo (median) | read / correct / write | first photo "
        f"| peak memory | output size (input size; output_format {conf['output_format']}) |\n"
        "|---|---|---|---|---|---|---|"
    )
    # 12 MP as a phone writes it, JPEG and HEIC (the HEIC encoder's preset is the cost: issue 29), and
    # the same HEIC tagged Display P3 as phones write them (the colour conversion's cost: issue 40)
    p3 = display_p3_profile(conf["p3_from"])
    cases = [(850, 1280, ".jpg"), (4000, 6000, ".jpg"), (3024, 4032, ".jpg"), (3024, 4032, ".heic")]
    cases += [(3024, 4032, ".heic", p3)] if p3 else []
    for height, width, ext, *icc in cases:
        photo = os.path.join(work, f"photo_{width}x{height}{'_p3' if icc else ''}{ext}")
        write_test_photo(photo, synthetic_photo(height, width), icc[0] if icc else None)
        for name, model in models.items():
            if ext == ".heic" and name != "ONNX Runtime":  # the format's cost, not the backend's
                continue
            measured = in_fresh_process(
                predict_case,
                model,
                photo,
                os.path.join(work, "out" + output_extension(photo, fmt)),
                4,
                correction,
            )
            warm = np.array(measured["runs"][1:])
            stages = np.median(warm, axis=0)
            row = {
                "backend": name,
                "size": f"{width}x{height}",
                "format": ext.lstrip(".") + (" Display P3" if icc else ""),
                "input_mb": os.path.getsize(photo) / 1e6,
                "median_s": float(np.median(warm.sum(axis=1))),
                "read_s": float(stages[0]),
                "correct_s": float(stages[1]),
                "write_s": float(stages[2]),
                "first_s": float(sum(measured["runs"][0])),
                "peak_rss_mb": measured["peak_rss_mb"],
                "output_mb": measured["output_mb"],
            }
            rows.append(row)
            print(
                f"| {name} | {row['size']} {row['format']} | {row['median_s']:.2f} s | {row['read_s']:.2f} / "
                f"{row['correct_s']:.2f} / {row['write_s']:.2f} s | {row['first_s']:.2f} s | "
                f"{row['peak_rss_mb']:.0f} MB | {row['output_mb']:.1f} MB ({row['input_mb']:.1f} MB in) |"
            )
    return {"correction": correction, "output_format": fmt, "rows": rows}


def display_p3_profile(path):
    """The ICC profile of a phone photo tagged Display P3 (--p3-from), or None, said, where there is
    none: the benchmark borrows a real profile rather than writing one by hand."""
    import io

    from PIL import Image, ImageCms

    import photo  # noqa: F401 -- registers the HEIF opener

    try:
        icc = Image.open(path).info.get("icc_profile") if os.path.isfile(path) else None
        name = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))) if icc else ""
    except Exception:  # noqa: BLE001 -- any unreadable file: the row is left out, said below
        name = ""
    if "Display P3" not in name:
        print(f"(no Display P3 row: {path} is not a photo with a Display P3 profile; --p3-from names one)")
        return None
    return icc


def write_test_photo(path, rgb, icc=None):
    """write_image's photo, or with `icc` the same samples tagged with that profile (write_photo with
    the profile's bytes and no profile to convert into), so that the two differ only by the tag."""
    if icc is None:
        return write_image(path, rgb)
    from photo import write_photo

    write_photo(path, rgb, info={"icc": icc})


def bench_memory(conf, work, conf_path, megapixels=(12, 48, 144)):
    """predict.py as a user runs it (the predict section's settings) on one synthetic 4:3 JPEG of
    each size: its peak resident memory (ru_maxrss of a fresh process per size) and wall time."""
    rows = []
    print("| photo | peak memory | MB per megapixel | seconds |\n|---|---|---|---|")
    for mp in megapixels:
        width = int((mp * 1e6 * 4 / 3) ** 0.5) // 8 * 8
        height = width * 3 // 4
        photo = os.path.join(work, f"photo_{mp}mp.jpg")
        write_image(photo, synthetic_photo(height, width, seed=mp))
        probe = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t)"
        )
        command = [sys.executable, "predict.py", "--conf", conf_path, photo, "--result_output_dir", work]
        done = subprocess.run(
            [sys.executable, "-c", probe, *command], cwd=ROOT, capture_output=True, text=True, check=True
        )
        peak_kb, seconds = done.stdout.split()
        rows.append(
            {"megapixels": width * height / 1e6, "peak_mb": int(peak_kb) / 1024, "seconds": float(seconds)}
        )
        r = rows[-1]
        print(
            f"| {width}x{height} ({r['megapixels']:.0f} MP) | {r['peak_mb']:.0f} MB | "
            f"{r['peak_mb'] / r['megapixels']:.1f} | {r['seconds']:.1f} s |"
        )
        os.remove(photo)
    return {"rows": rows}


def bench_page(conf, work, conf_path, sessions=10, uploads=5):
    """app.py as a user runs it (the predict section's model), on loopback: its memory (RSS) when
    started, after one 12 MP photo (libraries and the model warm), after each of `sessions`
    sessions of `uploads` 12 MP JPEGs each (a client of its own per session, one upload a call),
    and 10 s after the last."""
    import socket

    import psutil
    from gradio_client import Client, handle_file

    photos = []
    for i in tqdm_range(uploads, "writing photos"):
        photos.append(os.path.join(work, f"photo{i}.jpg"))
        write_image(photos[-1], synthetic_photo(3000, 4000, seed=i))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "app.py", "--conf", conf_path, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(240):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        rss = lambda: psutil.Process(server.pid).memory_info().rss / 2**20
        args = (conf["strength"], conf["max_side"], conf["self_ensemble"])
        row = {"client": "browser" if conf["browser"] else "api", "started_mb": rss()}
        Client(url, verbose=False).predict([handle_file(photos[0])], *args, api_name="/correct")
        row["warm_mb"], row["after_session_mb"], seconds = rss(), [], []
        measure = lambda: row["after_session_mb"].append(rss())
        if conf["browser"]:
            seconds = browser_sessions(url, photos, sessions, measure)
        else:
            seconds = api_sessions(url, photos, sessions, args, measure)
        time.sleep(10)
        row["idle_mb"], row["median_upload_s"] = rss(), float(np.median(seconds))
        time.sleep(110)
        row["idle_2min_mb"] = rss()
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(
        f"| page RSS ({row['client']}) | started | after one 12 MP photo | after {sessions} sessions x {uploads} "
        f"uploads | 10 s later | 2 min later | median upload to result |\n|---|---|---|---|---|---|---|\n"
        f"| MB | {row['started_mb']:.0f} | {row['warm_mb']:.0f} | {row['after_session_mb'][-1]:.0f} "
        f"(max {max(row['after_session_mb']):.0f}) | {row['idle_mb']:.0f} | {row['idle_2min_mb']:.0f} "
        f"| {row['median_upload_s']:.1f} s |"
    )
    return row


def api_sessions(url, photos, sessions, args, measure):
    """`sessions` clients of the HTTP API, each uploading the photos one a call, then `measure()`;
    each upload's seconds."""
    from gradio_client import Client, handle_file

    seconds = []
    for _ in tqdm_range(sessions, "sessions"):
        client = Client(url, verbose=False)
        for photo in photos:
            started = time.perf_counter()
            client.predict([handle_file(photo)], *args, api_name="/correct")
            seconds.append(time.perf_counter() - started)
        measure()
    return seconds


def browser_sessions(url, photos, sessions, measure):
    """`sessions` photographers in headless Chromium, each in a browser context of its own: the
    photos dropped at once and corrected, a strength typed (every photo re-rendered), the zip of all
    results downloaded; the context closed (the session ends), then `measure()`. Returns each
    session's seconds from the drop to the results."""
    import shutil

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("error: --browser needs Chromium (apt install chromium)")
    seconds, flags = [], ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=flags)
        for session in tqdm_range(sessions, "sessions"):
            context = browser.new_context(viewport={"width": 1280, "height": 1200})
            page = context.new_page()
            page.goto(url)
            started = time.perf_counter()
            page.locator("input[type=file]").first.set_input_files(photos)
            page.locator("#correct").click()
            page.wait_for_selector("#status:has-text('network')", timeout=600_000)
            seconds.append(time.perf_counter() - started)
            strength = f"{0.5 + 0.05 * session:g}"
            page.locator("#strength input[type=number]").fill(strength)
            page.locator("#strength input[type=number]").press("Enter")
            page.wait_for_selector(f"#status:has-text('strength {strength} ')", timeout=600_000)
            with page.expect_download(timeout=600_000) as download:
                page.locator("#zip").click()
            download.value.path()  # the whole zip received
            context.close()
            measure()
        browser.close()
    return seconds



def video_frames(count, height, width, seed=0, noise=3.0, ramp=0.0):
    """A static synthetic scene, under-exposed, with per-frame sensor noise and an optional
    exposure ramp (`ramp` stops over the clip)."""
    rng = np.random.default_rng(seed)
    base = synthetic_photo(height, width, seed) * 0.45
    for i in range(count):
        gain = 2.0 ** (ramp * i / max(count - 1, 1))
        noisy = base * gain + rng.normal(0, noise / 255, (height, width, 1)).astype(np.float32)
        yield (np.clip(noisy, 0, 1) * 255 + 0.5).astype(np.uint8)


def frame_means(path):
    import av

    with av.open(path) as container:
        return np.array([f.to_ndarray(format="rgb24").mean() for f in container.decode(video=0)])


def bench_video(conf, work, conf_path):
    """Frames per second of video.correct_video at 1920x1080 (decode, correct, encode, audio copied)
    for both backends; then the flicker measure on two 1280x720 clips, smoothing off and on."""
    import video
    from inference import load_backend

    models = {
        "PyTorch": conf["pretrained_model"],
        "ONNX Runtime": export_temp_onnx(conf["pretrained_model"], work),
    }
    args = (conf["max_side"], None, conf["self_ensemble"], conf["strength"])
    clip = os.path.join(work, "clip1080.mp4")
    video.write_clip(clip, video_frames(90, 1080, 1920), fps=30, audio_seconds=3.0)
    rows = []
    print("| backend | clip | frames/s (decode + correct + encode) |\n|---|---|---|")
    for name, model in models.items():
        backend = load_backend(model)
        started = time.perf_counter()
        frames = video.correct_video(
            clip, os.path.join(work, "out.mp4"), backend, *args, conf["temporal_smoothing"], conf["video_crf"]
        )
        fps = frames / (time.perf_counter() - started)
        rows.append({"backend": name, "size": "1920x1080", "frames": frames, "fps": fps})
        print(f"| {name} | 1920x1080, {frames} frames, with audio | {fps:.1f} |")
    flicker = []
    change = lambda means: float(np.abs(np.diff(means)).mean())
    print(
        "\n| clip (1280x720, 60 frames) | input | output, smoothing 0 | output, smoothing "
        f"{conf['temporal_smoothing']} |\n|---|---|---|---|"
    )
    backend = load_backend(models["ONNX Runtime"])
    for label, ramp in (("static scene, sensor noise", 0.0), ("slow exposure ramp (+1 EV)", 1.0)):
        source = os.path.join(work, "flicker.mp4")
        video.write_clip(source, video_frames(60, 720, 1280, seed=1, ramp=ramp), fps=30)
        measured = {"clip": label, "input": change(frame_means(source))}
        for smoothing in (0.0, conf["temporal_smoothing"]):
            out = os.path.join(work, "flicker_out.mp4")
            video.correct_video(source, out, backend, *args, smoothing, conf["video_crf"])
            measured[f"output_smoothing_{smoothing}"] = change(frame_means(out))
        flicker.append(measured)
        values = list(measured.values())[1:]
        print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    return {"fps": rows, "flicker_mean_abs_change_of_frame_mean": flicker, "settings": args}


if __name__ == "__main__":
    main()
