"""app.py: its functions, its HTTP API (gradio_client against a server started here on a free
loopback port) and the page in a real browser (headless Chromium, skipped when none is installed)."""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, TINY_ARCH, make_photo, write_conf

import app
from inference import load_backend


def photo_with_exif(path):
    exif = Image.Exif()
    exif[0x0110] = "TestCam X1"
    Image.fromarray(make_photo(60, 80) // 2).save(path, "JPEG", quality=95, exif=exif)
    return str(path)


def test_refused_files_get_a_message_each(tmp_path):
    (tmp_path / "notes.txt").write_text("not a photo")
    good = photo_with_exif(tmp_path / "a.jpg")
    photos, messages = app.load_photos([str(tmp_path / "notes.txt"), good], max_megapixels=100)
    assert [p["name"] for p in photos] == ["a.jpg"] and messages == [
        "notes.txt is not a photo this page reads (JPEG, PNG, TIFF, WebP, HEIC, camera RAW)"
    ]
    photos, messages = app.load_photos([good], max_megapixels=0.001)
    assert not photos and messages == ["a.jpg is 0 MP; this page takes up to 0 MP"]
    assert app.load_photos(None, 100) == ([], [])
    # a RAW without its image data gets its reason, as predict.py gives it, not the generic line
    from test_photo import make_dng

    make_dng(str(tmp_path / "stub.dng"), size=(1500, 2000))
    os.truncate(tmp_path / "stub.dng", 4096)
    assert app.load_photos([str(tmp_path / "stub.dng")], 100)[1] == [
        "stub.dng holds no image data (4 KB for a 3.0 MP sensor: metadata only, or truncated)"
    ]
    # so does a photo of a known kind cut short (its header reads, its pixels do not)
    data = open(good, "rb").read()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (message,) = app.load_photos([str(tmp_path / "cut.jpg")], 100)[1]
    assert message.startswith("cut.jpg is a JPEG file that cannot be decoded (")


def test_a_new_strength_rerenders_without_the_network_and_downloads_are_predicts(tiny_checkpoint, tmp_path):
    backend = load_backend(tiny_checkpoint[0])
    calls, run = [], backend.run
    backend.run = lambda batch: calls.append(1) or run(batch)
    photos, _ = app.load_photos([photo_with_exif(tmp_path / "a.jpg")], 100)
    app.prepare(photos, backend, 32, False)
    assert len(calls) == 1
    first, _, _ = app.render(photos, 1.0, str(tmp_path / "s1"), "same")
    full = np.asarray(Image.open(first[0]), float)
    none, _, _ = app.render(photos, 0.0, str(tmp_path / "s0"), "same")
    assert len(calls) == 1  # strength alone: the fitted maps are reused
    out = Image.open(none[0])
    assert out.format == "JPEG" and out.size == (80, 60) and out.getexif()[0x0110] == "TestCam X1"
    before = np.asarray(Image.open(tmp_path / "a.jpg"), float)
    assert np.abs(np.asarray(out, float) - before).mean() < 1.5 < np.abs(full - before).mean()
    before_preview, after_preview = (Image.open(p) for p in photos[0]["preview"])
    assert before_preview.size == after_preview.size == (80, 60)
    # the session keeps no pixels
    assert "rgb" not in photos[0] and set(photos[0]["correction"]) == {"maps", "share", "native"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """app.py on a free loopback port with a tiny model, as a user starts it."""
    import json

    import torch

    from model import build_generator, export_generator_weights

    tmp_path = tmp_path_factory.mktemp("app")
    torch.manual_seed(0)
    model = str(tmp_path / "tiny.pth")
    export_generator_weights(model, build_generator(TINY_ARCH), TINY_ARCH)
    conf = json.load(open(os.path.join(ROOT, "conf.json")))
    conf["predict"].update(TINY_ARCH, pretrained_model=model, max_side=64)
    port = free_port()
    cache = tmp_path / "gradio_cache"  # where gradio keeps uploads and results (GRADIO_TEMP_DIR)
    process = subprocess.Popen(
        [sys.executable, "app.py", "--conf", write_conf(tmp_path, conf), "--port", str(port)],
        env={**os.environ, "GRADIO_TEMP_DIR": str(cache)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(120):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.5)
    yield url, tmp_path
    process.terminate()
    output, _ = process.communicate(timeout=30)
    assert "Traceback" not in output, output[-3000:]  # whatever the tests sent, the server said no traceback
    # private photos (GPS included) must not outlive the server: issue 29
    left = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert not left, f"{len(left)} files left in gradio's cache after the server stopped: {left[:3]}"


def call(url, files, strength=1.0):
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    return client.predict([handle_file(f) for f in files], strength, 64, False, api_name="/correct")


def test_http_api_corrects_refuses_bad_input_and_keeps_serving(server):
    url, tmp_path = server
    (tmp_path / "notes.txt").write_text("not a photo")
    choices, compare, downloads, archive, status = call(url, [str(tmp_path / "notes.txt")])
    assert compare is None and downloads is None and archive is None and "notes.txt is not a photo" in status
    good = photo_with_exif(tmp_path / "b.jpg")
    choices, compare, downloads, archive, status = call(url, [good])
    assert choices["value"] == "b.jpg" and len(compare) == 2 and "network" in status and "tiny.pth" in status
    # the status names the settings behind the result; one photo needs no zip
    assert "strength **1** · working size **64 px** · self-ensemble **off**" in status and archive is None
    result = Image.open(downloads[0])
    assert result.format == "JPEG" and result.size == (80, 60) and result.getexif()[0x0110] == "TestCam X1"


def test_a_camera_raw_upload_through_the_http_api_is_corrected(server):
    """A DNG uploaded through gradio's HTTP API (it was refused as "not a photo") comes back as a
    16-bit TIFF with its camera's name; a huge declared size gets the size message."""
    from test_photo import make_dng
    from test_predict import huge_png

    url, tmp_path = server
    make_dng(str(tmp_path / "raw.dng"))
    choices, compare, downloads, _, status = call(url, [str(tmp_path / "raw.dng")])
    assert choices["value"] == "raw.dng" and len(downloads) == 1, status
    with Image.open(downloads[0]) as result:
        assert downloads[0].endswith(".tif") and result.size == (64, 48)
        assert result.getexif()[0x0110] == "TestModel"
    huge_png(tmp_path / "bomb.png")
    *_, status = call(url, [str(tmp_path / "bomb.png")])
    assert "bomb.png is 900 MP; this page takes up to 200 MP" in status


def test_two_users_at_once_both_get_their_results(server):
    url, tmp_path = server
    paths = [photo_with_exif(tmp_path / f"user{i}.jpg") for i in range(2)]
    results = {}
    threads = [threading.Thread(target=lambda p=p: results.update({p: call(url, [p])})) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert sorted(os.path.basename(r[2][0]) for r in results.values()) == [
        "user0_corrected.jpg", "user1_corrected.jpg"
    ]


def test_uploads_of_one_name_each_get_their_own_result_and_all_come_in_one_zip(server):
    """Two photo.jpg from different folders (640x480 and 500x375 in the issue; smaller here), and
    x.tif with a DNG named x.dng: four results, none named as an original, the list's "(2)"
    carried into the name, each at its own photo's size, and all of them in the zip."""
    import zipfile

    from test_photo import make_dng

    url, tmp_path = server
    (tmp_path / "one").mkdir(), (tmp_path / "two").mkdir()
    Image.fromarray(make_photo(48, 64)).save(tmp_path / "one" / "photo.jpg", quality=95)
    Image.fromarray(make_photo(40, 50, seed=3)).save(tmp_path / "two" / "photo.jpg", quality=95)
    choices, _, downloads, archive, status = call(
        url, [str(tmp_path / "one" / "photo.jpg"), str(tmp_path / "two" / "photo.jpg")]
    )
    assert [os.path.basename(d) for d in downloads] == ["photo_corrected.jpg", "photo_corrected (2).jpg"], status
    with zipfile.ZipFile(archive) as z:
        assert z.namelist() == ["photo_corrected.jpg", "photo_corrected (2).jpg"]
        assert [z.read(n) for n in z.namelist()] == [open(d, "rb").read() for d in downloads]
    assert [Image.open(d).size for d in downloads] == [(64, 48), (50, 40)]
    assert [c[0] for c in choices["choices"]] == ["photo.jpg", "photo.jpg (2)"]
    Image.fromarray(make_photo(48, 64)).save(tmp_path / "x.tif")
    make_dng(str(tmp_path / "x.dng"))
    _, _, downloads, _, status = call(url, [str(tmp_path / "x.tif"), str(tmp_path / "x.dng")])
    assert [os.path.basename(d) for d in downloads] == ["x_corrected.tif", "x_dng_corrected.tif"], status
    with Image.open(downloads[1]) as raw_result:
        assert raw_result.getexif()[0x0110] == "TestModel"


def test_soak_several_clients_bad_files_and_a_client_that_hangs_up_mid_upload(server):
    """Bounded, on loopback: four sessions at once, three rounds each, every other round with a
    bad file mixed in, while a fifth client starts an upload and hangs up halfway. Every session
    gets exactly its own results, at its own sizes; the server goes on serving (and, checked when it
    stops, printed no traceback and left no file)."""
    import http.client

    url, tmp_path = server
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    (tmp_path / "bad.txt").write_text("not a photo")
    results, errors = {}, []

    def session(k):
        try:
            for r in range(3):
                path = tmp_path / f"s{k}_r{r}.jpg"
                Image.fromarray(make_photo(40 + 8 * k, 56, seed=k * 10 + r)).save(path, quality=95)
                files = [str(path)] + ([str(tmp_path / "bad.txt")] if r % 2 else [])
                _, _, downloads, _, status = call(url, files)
                results[(k, r)] = ([os.path.basename(d) for d in downloads], Image.open(downloads[0]).size, status)
        except Exception as e:  # reported below, with its session
            errors.append(f"session {k}: {e!r}")

    def hang_up():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        boundary = "xyz"
        conn.putrequest("POST", "/gradio_api/upload")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(1_000_000))
        conn.endheaders()
        conn.send(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="cut.jpg"\r\n\r\n'.encode())
        conn.send(b"\xff\xd8" + b"\0" * 50_000)
        conn.close()

    threads = [threading.Thread(target=session, args=(k,)) for k in range(4)] + [threading.Thread(target=hang_up)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    for (k, r), (names, size, status) in results.items():
        assert names == [f"s{k}_r{r}_corrected.jpg"] and size == (56, 40 + 8 * k), (k, r, status)
        assert ("bad.txt is not a photo" in status) == bool(r % 2)
    assert len(results) == 12
    _, _, downloads, _, _ = call(url, [photo_with_exif(tmp_path / "after.jpg")])
    assert [os.path.basename(d) for d in downloads] == ["after_corrected.jpg"]


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


def corrected_in_browser(playwright, url, photo, width):
    """Headless Chromium on the page, `photo` dropped and Correct pressed: (browser, page)."""
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    browser = playwright.chromium.launch(executable_path=BROWSER, args=flags)
    page = browser.new_page(viewport={"width": width, "height": 1400})
    page.goto(url)
    page.locator("input[type=file]").first.set_input_files(photo)
    page.locator("#correct").click()
    return browser, page


@pytest.mark.skipif(BROWSER is None, reason="no Chromium here (apt install chromium; .ci/run installs it)")
def test_the_page_in_a_real_browser(server):
    """Headless Chromium opens the page, uploads a photo, clicks Correct and waits for the result;
    the screenshot must show the result, which differs from the input."""
    from playwright.sync_api import sync_playwright

    url, tmp_path = server
    photo = photo_with_exif(tmp_path / "page.jpg")
    with sync_playwright() as p:
        browser, page = corrected_in_browser(p, url, photo, 1200)
        page.wait_for_selector("#status:has-text('network')", timeout=120_000)
        page.wait_for_selector("#compare img[src]", state="attached", timeout=60_000)
        page.wait_for_timeout(1000)  # the slider lays out both pictures
        images = page.locator("#compare img")
        sources = [images.nth(i).get_attribute("src") for i in range(images.count())]
        shot = str(tmp_path / "page.png")
        page.screenshot(path=shot, full_page=True)
        browser.close()
    assert len(sources) >= 2 and len(set(sources)) >= 2  # before and after are different pictures
    assert Image.open(shot).size[0] == 1200 and os.path.getsize(shot) > 20_000


def test_an_upload_given_as_a_file_object_is_read_from_its_path(tmp_path):
    """gradio's HTTP API can hand the upload over as its file object: camera RAW needs the path
    (it was refused as "not a photo"); a huge declared size gets the size message, not "not a photo"."""
    from types import SimpleNamespace

    from test_predict import huge_png

    good = photo_with_exif(tmp_path / "a.jpg")
    huge_png(tmp_path / "bomb.png")
    photos, messages = app.load_photos([SimpleNamespace(path=good), str(tmp_path / "bomb.png")], 200)
    assert [p["name"] for p in photos] == ["a.jpg"]
    assert messages == ["bomb.png is 900 MP; this page takes up to 200 MP"]


def test_old_results_are_pruned(tmp_path):
    import time

    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    app.prune(str(tmp_path), 3600)
    assert not old.exists() and new.exists()


def predict_bytes(tmp_path, photo, strength, max_side, ensemble):
    """What predict.py writes for `photo` at these settings, with the server's conf."""
    out = tmp_path / f"expected_{strength}_{max_side}_{ensemble}"
    result = subprocess.run(
        [sys.executable, "predict.py", "--conf", str(tmp_path / "conf.json"), photo, "--strength", str(strength),
         "--max_side", str(max_side), "--self_ensemble", str(ensemble).lower(), "--result_output_dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return open(out / os.path.basename(photo), "rb").read()


@pytest.mark.skipif(BROWSER is None, reason="no Chromium here (apt install chromium; .ci/run installs it)")
def test_the_result_always_matches_the_controls_in_a_real_browser(server):
    """However a value is changed (typed and left with Tab, typed and Enter, arrow keys, the reset
    button, a typed working size, the self-ensemble box), the status names the settings shown and
    the download is byte for byte what predict.py writes at them."""
    from playwright.sync_api import sync_playwright

    url, tmp_path = server
    photo = photo_with_exif(tmp_path / "ctl.jpg")
    with sync_playwright() as p:
        browser, page = corrected_in_browser(p, url, photo, 1280)
        number = page.locator("#strength input[type=number]")
        size = page.locator("#working_size input[type=number]")

        def settled(strength, side, ensemble):
            words = f"strength {strength:g} · working size {side} px · self-ensemble {'on' if ensemble else 'off'}"
            page.wait_for_selector(f"#status:has-text('{words}')", timeout=120_000)
            page.wait_for_timeout(500)
            link = page.locator("#downloads a[download]").first
            assert link.get_attribute("download") == "ctl_corrected.jpg"
            got = page.request.get(link.get_attribute("href")).body()
            assert got == predict_bytes(tmp_path, photo, strength, side, ensemble), words
            return float(number.input_value()), int(size.input_value())

        assert settled(1.0, 64, True) == (1.0, 64)
        number.fill("0.5"), number.press("Tab")
        assert settled(0.5, 64, True)[0] == 0.5
        number.fill("0.7"), number.press("Enter")
        assert settled(0.7, 64, True)[0] == 0.7
        page.locator("#strength input[type=range]").focus()
        page.keyboard.press("ArrowRight"), page.keyboard.press("ArrowRight")
        assert settled(0.8, 64, True)[0] == 0.8
        page.locator("#strength button.reset-button").click()
        assert settled(1.0, 64, True)[0] == 1.0
        size.fill("128"), size.press("Enter")
        assert settled(1.0, 128, True)[1] == 128
        page.locator("#ensemble input").click()
        settled(1.0, 128, False)
        browser.close()


def test_a_broken_png_is_named_without_a_path_on_the_server(tmp_path):
    """Its header reads, its pixels do not: the message names the file, not where the server keeps it."""
    import cv2

    cv2.imwrite(str(tmp_path / "broken.png"), make_photo(40, 60))
    data = open(tmp_path / "broken.png", "rb").read()
    (tmp_path / "broken.png").write_bytes(data[:200] + b"\0" * 300)
    (message,) = app.load_photos([str(tmp_path / "broken.png")], 100)[1]
    assert message.startswith("broken.png is a PNG file that cannot be decoded") and str(tmp_path) not in message
    # whatever a decoder says, a path in it is the server's: the page says "the file"
    import photo

    def cv2_fails(path, *a, **k):
        raise photo.ImageReadError(f"cannot read {path}: x", f"is a PNG file that cannot be decoded ({path})")

    app.read_photo, saved = cv2_fails, app.read_photo
    try:
        (message,) = app.load_photos([str(tmp_path / "broken.png")], 100)[1]
    finally:
        app.read_photo = saved
    assert message == "broken.png is a PNG file that cannot be decoded (the file)"


def test_download_names_never_take_an_originals_name_and_are_unique_without_case():
    from photo import download_names

    names = ["photo.jpg", "photo.jpg", "x.tif", "x.dng", "a.JPG", "A.jpg", "shot.HEIC"]
    labels = ["photo.jpg", "photo.jpg (2)", "x.tif", "x.dng", "a.JPG", "A.jpg", "shot.HEIC"]
    assert download_names(names, labels, "same") == [
        "photo_corrected.jpg", "photo_corrected (2).jpg", "x_corrected.tif", "x_dng_corrected.tif",
        "a_corrected.JPG", "A_jpg_corrected.jpg", "shot_corrected.HEIC",
    ]
    assert download_names(["a.png", "a.jpg"], ["a.png", "a.jpg"], "jpg") == ["a_corrected.jpg", "a_jpg_corrected.jpg"]
