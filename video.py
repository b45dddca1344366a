"""Videos for predict.py: decode, correct frame by frame, smooth the correction over time, encode
H.264 with the audio copied. PyAV (FFmpeg inside its wheels) does the decoding and encoding;
only predict.py's video path imports this module.

Each frame is corrected as a photo is (working size, network, guided upsampling, strength), but
the affine colour maps of guided upsampling are averaged over time (an exponential moving
average, `temporal_smoothing`), so independent per-frame corrections do not shimmer, and reset
at scene cuts (a large change of the input's low-resolution picture)."""

import queue
import threading

import av
import numpy as np

from inference import (
    apply_affine_maps,
    fit_maps,
    network_outputs,
    network_size,
    scale_strength,
)
from utils import atomic_write, resize

VIDEO_CODECS = ("libx264", "h264", "mpeg4")  # the first the installed FFmpeg build can encode
MP4_AUDIO = ("aac", "mp3", "ac3", "eac3", "alac", "opus", "flac")  # audio codecs copied into MP4 as they are
SCENE_CUT = 0.08  # mean absolute change of a 32x32 thumbnail (in [0, 1]) that starts a new scene


class VideoReadError(ValueError):
    pass


def choose_codec():
    return next(c for c in VIDEO_CODECS if c in av.codecs_available)


def probe(path):
    """(frames, width, height, fps, has_audio) of a video; VideoReadError if it cannot be read."""
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoReadError(f"cannot read {path}: no video stream")
            stream = container.streams.video[0]
            return (
                stream.frames,
                stream.codec_context.width,
                stream.codec_context.height,
                float(stream.average_rate or 0),
                bool(container.streams.audio),
            )
    except (av.FFmpegError, OSError) as e:
        raise VideoReadError(f"cannot read {path}: {e}") from None


def smooth_maps(state, small_in, coef_a, coef_b, smoothing):
    """The exponential moving average of the maps (weight `smoothing` on the past), restarted when
    the low-resolution input changes by more than SCENE_CUT (a cut: the past no longer applies)."""
    thumb = resize(small_in, 32, 32)
    cut = "thumb" not in state or float(np.abs(thumb - state["thumb"]).mean()) > SCENE_CUT
    state["thumb"] = thumb
    if cut or smoothing == 0 or state["a"].shape != coef_a.shape:
        state["a"], state["b"] = coef_a, coef_b
    else:
        state["a"] = smoothing * state["a"] + (1 - smoothing) * coef_a
        state["b"] = smoothing * state["b"] + (1 - smoothing) * coef_b
    return state["a"], state["b"]


def correct_frame(frame, backend, state, max_side, image_size, ensemble, strength, smoothing):
    """One uint8 RGB frame -> the corrected uint8 frame: the network at the working size, affine
    maps fitted (inference's one formula), smoothed over time, scaled by strength, applied at
    full size. The full-size frame stays uint8 (the maps' gains are scaled by 1/255 instead),
    which spares two float copies of every frame."""
    net_h, net_w = network_size(*frame.shape[:2], backend, max_side, image_size)
    small = resize(frame, net_h, net_w).astype(np.float32) * (1 / 255)
    small_in, small_out = network_outputs([small], backend, max_side, image_size, ensemble)[0]
    coef_a, coef_b = fit_maps(small_in, small_out)
    coef_a, coef_b = scale_strength(*smooth_maps(state, small_in, coef_a, coef_b, smoothing), strength)
    return apply_affine_maps(coef_a * (1 / 255), coef_b, frame, out=np.empty_like(frame))


def _decode(container, video_in, audio_in, items):
    """Thread: demux and decode; puts ("video", frame array, pts, time_base), ("audio", packet), None."""
    try:
        for packet in container.demux(*([video_in] + ([audio_in] if audio_in else []))):
            if packet.stream is video_in:
                for frame in packet.decode():
                    items.put(("video", frame.to_ndarray(format="rgb24"), frame.pts, frame.time_base))
            elif packet.dts is not None:
                items.put(("audio", packet))
    except Exception as e:  # a corrupt stream: handed to the main thread, which names the file
        items.put(("error", e))
    items.put(None)


def _encode(output, video_out, audio_out, copy_audio, items, errors):
    """Thread: encode corrected frames and mux them with the copied audio packets, in order."""
    try:
        for item in iter(items.get, None):
            if item[0] == "video":
                frame = av.VideoFrame.from_ndarray(item[1], format="rgb24")
                frame.pts, frame.time_base = item[2], item[3]
                output.mux(video_out.encode(frame))
            elif copy_audio:
                item[1].stream = audio_out
                output.mux(item[1])
            else:  # a codec MP4 does not take: decoded and re-encoded as AAC
                for frame in item[1].decode():
                    frame.pts = None
                    output.mux(audio_out.encode(frame))
        output.mux(video_out.encode())  # flush the encoders
        if audio_out is not None and not copy_audio:
            output.mux(audio_out.encode())
    except Exception as e:
        errors.append(e)
        for _ in iter(items.get, None):  # drain, so the producer never blocks
            pass


def correct_video(
    in_path,
    out_path,
    backend,
    max_side,
    image_size=None,
    ensemble=False,
    strength=1.0,
    smoothing=0.0,
    crf=20,
    progress=None,
):
    """Correct every frame of `in_path` into the MP4 `out_path` (same size, frame rate and frame
    count; H.264 at quality `crf`, audio copied where MP4 takes its codec, else re-encoded as AAC).
    Decoding, correcting and encoding run in three threads so they overlap. progress(n) is called
    per frame. Returns the number of frames; VideoReadError for an unreadable or corrupt video."""

    def write(tmp):
        nonlocal frames
        frames = _transcode(
            in_path, tmp, backend, (max_side, image_size, ensemble, strength, smoothing), crf, progress
        )

    frames = 0
    try:
        atomic_write(out_path, write)
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoReadError(
            f"cannot process {in_path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    return frames


def _transcode(in_path, out_path, backend, settings, crf, progress):
    with av.open(in_path) as container, av.open(out_path, "w", format="mp4") as output:
        if not container.streams.video:
            raise VideoReadError(f"cannot read {in_path}: no video stream")
        video_in = container.streams.video[0]
        video_in.thread_type = "AUTO"
        audio_in = container.streams.audio[0] if container.streams.audio else None
        video_out = output.add_stream(choose_codec(), rate=video_in.average_rate or 25)
        video_out.width, video_out.height = video_in.codec_context.width, video_in.codec_context.height
        keep_metadata(in_path, container, output, video_out)
        even = video_out.width % 2 == 0 and video_out.height % 2 == 0
        video_out.pix_fmt = "yuv420p" if even else "yuv444p"  # 4:2:0 needs even sizes
        video_out.options = {"crf": str(crf), "preset": "veryfast"} if video_out.name == "libx264" else {}
        copy_audio = audio_in is not None and audio_in.codec_context.name in MP4_AUDIO
        audio_out = (
            None
            if audio_in is None
            else (
                output.add_stream_from_template(audio_in)
                if copy_audio
                else output.add_stream("aac", rate=audio_in.codec_context.sample_rate or 48000)
            )
        )
        decoded, encoded, errors = queue.Queue(16), queue.Queue(16), []
        threads = [
            threading.Thread(target=_decode, args=(container, video_in, audio_in, decoded), daemon=True),
            threading.Thread(
                target=_encode, args=(output, video_out, audio_out, copy_audio, encoded, errors), daemon=True
            ),
        ]
        for thread in threads:
            thread.start()
        state, frames, failure = {}, 0, None
        for item in iter(decoded.get, None):
            if item[0] == "error":
                failure = item[1]
                continue
            if item[0] == "video":
                item = ("video", correct_frame(item[1], backend, state, *settings), item[2], item[3])
                frames += 1
                if progress:
                    progress(1)
            encoded.put(item)
        encoded.put(None)
        for thread in threads:
            thread.join()
        if failure or errors:
            raise VideoReadError(f"cannot process {in_path}: {failure or errors[0]}")
        if frames == 0:
            raise VideoReadError(f"cannot read {in_path}: no frames decoded")
    return frames


# Container tags FFmpeg writes itself for the new file; every other tag (creation_time, title,
# location, artist, ...) is carried over.
OWN_TAGS = ("major_brand", "minor_version", "compatible_brands", "encoder")


def keep_metadata(in_path, container, output, video_out):
    """The input's container metadata and its display rotation (a phone's portrait clip is stored
    landscape with a rotation to show it by; the frames are corrected as stored)."""
    output.metadata.update({k: v for k, v in container.metadata.items() if k not in OWN_TAGS})
    with av.open(in_path) as peek:  # the rotation comes with the decoded frames: read the first
        first = next(peek.decode(video=0), None)
    if first is not None and first.rotation:
        video_out.set_display_rotation(first.rotation)


def write_clip(path, frames, fps=25, audio_seconds=0.0, container_format=None, metadata=None, rotation=0):
    """Write uint8 RGB frames (an iterable of H x W x 3 arrays) as H.264 video, with a 440 Hz AAC
    tone of `audio_seconds` if > 0, container `metadata` and a display `rotation`: the clips that
    benchmark.py and the tests correct."""
    with av.open(path, "w", format=container_format) as output:
        output.metadata.update(metadata or {})
        stream, audio = None, None
        for i, rgb in enumerate(frames):
            if stream is None:
                stream = output.add_stream(choose_codec(), rate=fps)
                stream.height, stream.width = rgb.shape[:2]
                stream.pix_fmt = "yuv420p"
                if rotation:
                    stream.set_display_rotation(rotation)
                if audio_seconds > 0:
                    audio = output.add_stream("aac", rate=48000)
            output.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        output.mux(stream.encode())
        if audio is not None:
            t = np.arange(int(48000 * audio_seconds)) / 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for start in range(0, tone.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(tone[:, start : start + 1024]), format="fltp", layout="mono"
                )
                frame.sample_rate = 48000
                output.mux(audio.encode(frame))
            output.mux(audio.encode())
