"""Output expectations on real files of every kind, made here with real encoders."""

from __future__ import annotations

import json
import random
import struct
import wave
from pathlib import Path

import imageio_ffmpeg
import pytest
from PIL import Image

from atelier.check.expect import check_outputs, mesh_faces


def png(path: Path, size: tuple[int, int], flat: bool = False) -> Path:
    image = Image.new("RGB", size, (120, 80, 40))
    if not flat:
        rng = random.Random(0)
        image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size[0] * size[1])])
    image.save(path)
    return path


def wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x01" * int(seconds * rate))
    return path


def mp4(path: Path, frames: int, size: tuple[int, int]) -> Path:
    writer = imageio_ffmpeg.write_frames(
        str(path), size, fps=16, macro_block_size=1, output_params=["-loglevel", "error"]
    )
    writer.send(None)
    for i in range(frames):
        writer.send(bytes([i % 256]) * (size[0] * size[1] * 3))
    writer.close()
    return path


def glb(path: Path, triangles: int) -> Path:
    gltf = {
        "asset": {"version": "2.0"},
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "accessors": [
            {"count": 3, "type": "VEC3", "componentType": 5126},
            {"count": triangles * 3, "type": "SCALAR", "componentType": 5125},
        ],
    }
    body = json.dumps(gltf).encode()
    body += b" " * (-len(body) % 4)
    path.write_bytes(b"glTF" + struct.pack("<II", 2, 20 + len(body)) + struct.pack("<II", len(body), 0x4E4F534A) + body)
    return path


def test_images_as_promised(tmp_path: Path) -> None:
    files = [png(tmp_path / "a.png", (64, 48)), png(tmp_path / "b.png", (64, 48))]
    assert check_outputs([{"kind": "image", "count": 2, "width": 64, "height": 48}], files) == []


def test_image_problems_name_the_file(tmp_path: Path) -> None:
    files = [png(tmp_path / "small.png", (32, 32)), png(tmp_path / "flat.png", (64, 48), flat=True)]
    assert check_outputs([{"kind": "image", "count": 3, "width": 64, "height": 48}], files) == [
        "expected 3 image(s), got 2",
        "image flat.png is one flat colour",
        "image small.png is 32×32, expected 64×48",
    ]


def test_sound_length(tmp_path: Path) -> None:
    assert check_outputs([{"kind": "audio", "count": 1, "seconds": 20}], [wav(tmp_path / "a.wav", 20.2)]) == []
    assert check_outputs([{"kind": "audio", "count": 1, "seconds": 20}], [wav(tmp_path / "b.wav", 10)]) == [
        "sound b.wav lasts 10.0 s, expected 20 s"
    ]


def test_video_frames_and_size(tmp_path: Path) -> None:
    video = mp4(tmp_path / "v.mp4", 33, (64, 48))
    assert check_outputs([{"kind": "video", "count": 1, "frames": 33, "width": 64, "height": 48}], [video]) == []
    assert check_outputs([{"kind": "video", "count": 1, "frames": 81, "width": 64, "height": 48}], [video]) == [
        "video v.mp4 has 33 frames, expected 81"
    ]


def test_mesh_faces(tmp_path: Path) -> None:
    assert mesh_faces(glb(tmp_path / "m.glb", 12)) == 12
    assert check_outputs([{"kind": "mesh", "count": 1}], [tmp_path / "m.glb"]) == []
    assert check_outputs([{"kind": "mesh", "count": 1}], [glb(tmp_path / "empty.glb", 0)]) == [
        "3D model empty.glb has no faces"
    ]


def test_a_truncated_file_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    broken = tmp_path / "cut.png"
    broken.write_bytes(png(tmp_path / "whole.png", (64, 48)).read_bytes()[:100])
    problems = check_outputs([{"kind": "image", "count": 1, "width": 64, "height": 48}], [broken])
    assert problems and problems[0].startswith("image cut.png could not be read")


@pytest.mark.parametrize("kind", ["image", "audio", "video", "mesh"])
def test_nothing_made_is_reported(kind: str) -> None:
    noun = {"image": "image", "audio": "sound", "video": "video", "mesh": "3D model"}[kind]
    assert check_outputs([{"kind": kind, "count": 1}], []) == [f"expected 1 {noun}(s), got 0"]
