"""Do a run's files match what its module.yaml promises?

A lesson check passes only if the outputs are real: the right number of files of each
kind, images of the stated size that are not one flat colour, sounds of the stated
length, videos with the stated frames, 3D models with faces. Each problem is one plain
sentence naming the file.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

KINDS = {
    "image": {".png", ".webp", ".jpg", ".jpeg"},
    "video": {".mp4", ".webm", ".mov", ".mkv"},
    "audio": {".flac", ".wav", ".mp3", ".ogg", ".opus"},
    "mesh": {".glb", ".gltf", ".obj"},
}
NOUNS = {"image": "image", "video": "video", "audio": "sound", "mesh": "3D model"}
AUDIO_TOLERANCE = 0.05  # a sound may be 5% longer or shorter than stated


def kind_of(path: Path) -> str | None:
    return next((kind for kind, suffixes in KINDS.items() if path.suffix.lower() in suffixes), None)


def _image(path: Path, spec: dict[str, Any]) -> list[str]:
    from PIL import Image

    with Image.open(path) as image:
        size = image.size
        extrema = image.convert("RGB").getextrema()
    problems = []
    if size != (spec.get("width"), spec.get("height")):
        problems.append(f"image {path.name} is {size[0]}×{size[1]}, expected {spec.get('width')}×{spec.get('height')}")
    if all(low == high for low, high in extrema):
        problems.append(f"image {path.name} is one flat colour")
    return problems


def _audio(path: Path, spec: dict[str, Any]) -> list[str]:
    import mutagen

    audio = mutagen.File(path)
    length = float(audio.info.length) if audio is not None else 0.0
    wanted = float(spec.get("seconds", 0))
    if abs(length - wanted) > max(0.5, wanted * AUDIO_TOLERANCE):
        return [f"sound {path.name} lasts {length:.1f} s, expected {wanted:g} s"]
    return []


def _video(path: Path, spec: dict[str, Any]) -> list[str]:
    import imageio_ffmpeg

    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    reader = imageio_ffmpeg.read_frames(str(path))
    size = tuple(next(reader)["size"])
    reader.close()
    problems = []
    if frames != spec.get("frames"):
        problems.append(f"video {path.name} has {frames} frames, expected {spec.get('frames')}")
    if size != (spec.get("width"), spec.get("height")):
        problems.append(f"video {path.name} is {size[0]}×{size[1]}, expected {spec.get('width')}×{spec.get('height')}")
    return problems


def mesh_faces(path: Path) -> int:
    """Triangles in a GLB (binary glTF) or OBJ file."""
    data = path.read_bytes()
    if path.suffix.lower() == ".obj":
        return sum(1 for line in data.splitlines() if line.startswith(b"f "))
    if data[:4] != b"glTF":
        return 0
    length, chunk_type = struct.unpack_from("<II", data, 12)
    if chunk_type != 0x4E4F534A:  # "JSON"
        return 0
    gltf = json.loads(data[20 : 20 + length])
    faces = 0
    for mesh in gltf.get("meshes", []):
        for primitive in mesh.get("primitives", []):
            if primitive.get("mode", 4) != 4:
                continue
            accessor = primitive.get("indices")
            if accessor is not None:
                faces += gltf["accessors"][accessor]["count"] // 3
            else:
                faces += gltf["accessors"][primitive["attributes"]["POSITION"]]["count"] // 3
    return faces


def _mesh(path: Path, spec: dict[str, Any]) -> list[str]:
    return [] if mesh_faces(path) > 0 else [f"3D model {path.name} has no faces"]


CHECKS = {"image": _image, "audio": _audio, "video": _video, "mesh": _mesh}


def check_outputs(expected: list[dict[str, Any]], files: list[Path]) -> list[str]:
    """Problems, in plain words; an empty list means the outputs are as promised."""
    problems: list[str] = []
    by_kind: dict[str, list[Path]] = {}
    for path in files:
        kind = kind_of(path)
        if kind:
            by_kind.setdefault(kind, []).append(path)
    for kind in sorted({str(spec.get("kind")) for spec in expected}):
        specs = [spec for spec in expected if spec.get("kind") == kind]
        wanted = sum(int(spec.get("count", 1)) for spec in specs)
        got = sorted(by_kind.get(kind, []))
        if len(got) != wanted:
            problems.append(f"expected {wanted} {NOUNS[kind]}(s), got {len(got)}")
        slots = [spec for spec in specs for _ in range(int(spec.get("count", 1)))]
        for path, spec in zip(got, slots, strict=False):
            try:
                problems += CHECKS[kind](path, spec)
            except Exception as err:  # a broken file is a finding, not a crash
                problems.append(f"{NOUNS[kind]} {path.name} could not be read ({type(err).__name__})")
    return problems
