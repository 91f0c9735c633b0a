"""`atelier bench`'s arithmetic and the benchmarks page made from its files.

The measuring itself runs against a real ComfyUI in tests/comfyui/test_bench.py; here the
parts a wrong figure would come from: what each workload changes in the workflow, how
speed and medians are worked out, which kind of weights a file holds, and that every
figure on the page is the one in the file, with its hardware, date and versions.
"""

from __future__ import annotations

import json
import re
import shlex
import struct
from pathlib import Path
from typing import Any

import pytest

from atelier.check import bench
from atelier.check.bench_records import BenchResult, Device, Machine, ModelFile, Run, Versions, WorkloadResult
from atelier.check.hardware import device_name
from atelier.check.lessons import hardware_slug
from atelier.comfy.headless import load_job
from atelier.hpc import ood, slurm
from atelier.hpc.profiles import CLUSTERS, all_profiles, load_profile
from atelier.lessons.modules import all_modules
from atelier.lessons.nodes import load_node_list
from atelier.messages import AtelierError
from atelier.site.pages import benchmarks as benchpage
from atelier.site.pages.teach import cost
from tests.erb import NO_RUBY, RUBY, rendered

ROOT = Path(__file__).resolve().parents[2]
MODULES = all_modules(ROOT / "workflows")
NODE_LIST = load_node_list(ROOT / "workflows" / "nodes" / "object_info.json")


def entry(
    name: str, seconds: float | None, rate: float | None = 10.0, lesson: str = "txt2img-basics", gpu: int = 3 * 2**30
) -> dict[str, Any]:
    measured = seconds is not None
    side = 1024 if name == "sdxl-1024" else 512
    return {
        "name": name,
        "lesson": lesson,
        "about": name,
        "width": side,
        "height": side,
        "steps": 20,
        "models": [{"name": "v1-5-pruned-emaonly.safetensors", "weights": "random (full)"}],
        "status": "measured" if measured else "skipped",
        **({"reason": "no model"} if not measured else {}),
        "first_image_s": (seconds or 0) + 5,
        "seconds_per_image": seconds,
        "model_load_s": 5.0,
        "iterations_per_second": rate,
        "repeat": 3,
        "runs_s": [seconds] * 3,
        "peak_gpu_bytes": gpu,
        "peak_host_bytes": 2**30,
    }


def result(
    device: str = "NVIDIA A100-SXM4-80GB",
    date: str = "2026-11-20T10:00:00+00:00",
    runs: list[tuple[list[str], float, float]] | None = None,
    kind: str = "cuda",
) -> dict[str, Any]:
    """A file as `atelier bench` writes it: one run per (flags, SD 1.5 seconds, SDXL seconds)."""
    made = []
    for flags, sd15, sdxl in runs or [([], 1.5, 3.5)]:
        made.append(
            {
                "flags": flags,
                "cold_start_s": 12.0,
                "device": {"type": kind, "name": device, "memory_bytes": 80 * 2**30},
                "versions": {"comfyui": "0.3.64", "torch": "2.9.1+cu128", "python": "3.12.3", "atelier": "0.1.0"},
                "workloads": [
                    entry("sd15-512", sd15),
                    entry("sdxl-1024", sdxl, 6.0, "sdxl-basics", 9 * 2**30),
                    entry("txt2img-basics", sd15 * 1.1),
                    entry("text-to-video", None, lesson="text-to-video"),
                ],
            }
        )
    return {
        "atelier_bench": 1,
        "date": date,
        "machine": {"cpu": "AMD EPYC 7763", "cores": 16, "system": "Linux"},
        "repeat": 3,
        "runs": made,
    }


def folder_with(tmp_path: Path, **files: dict[str, Any]) -> Path:
    for name, content in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content), encoding="utf-8")
    return tmp_path


def row(table: str, first_cell: str) -> list[str]:
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in\n{table}")


# The workloads


def test_standard_workloads_set_size_steps_and_a_new_seed() -> None:
    job = load_job(ROOT / "workflows" / "sdxl-basics", NODE_LIST)
    ready = bench.prepared(job, bench.STANDARD["sdxl-1024"], seed=1003)
    latent = next(n for n in ready.prompt.values() if n["class_type"] == "EmptyLatentImage")["inputs"]
    sampler = next(n for n in ready.prompt.values() if n["class_type"] == "KSampler")["inputs"]
    assert (latent["width"], latent["height"], sampler["steps"], sampler["seed"]) == (1024, 1024, 20, 1003)
    assert job.prompt != ready.prompt and "seed" in str(job.prompt)  # the loaded job itself is left alone


def test_a_lesson_workload_keeps_the_lessons_own_settings() -> None:
    job = load_job(ROOT / "workflows" / "txt2img-basics", NODE_LIST)
    [workload] = bench.workloads(["txt2img-basics"], MODULES)
    ready = bench.prepared(job, workload, seed=7)
    for node_id, node in job.prompt.items():
        changed = {k for k, v in node["inputs"].items() if ready.prompt[node_id]["inputs"][k] != v}
        assert changed <= {"seed"}, node["class_type"]


def test_override_size_and_steps_for_a_quick_look() -> None:
    job = load_job(ROOT / "workflows" / "txt2img-basics", NODE_LIST)
    ready = bench.prepared(job, bench.STANDARD["sd15-512"], 1, size=(64, 96), steps=2)
    latent = next(n for n in ready.prompt.values() if n["class_type"] == "EmptyLatentImage")["inputs"]
    assert (latent["width"], latent["height"]) == (64, 96)
    assert next(n for n in ready.prompt.values() if n["class_type"] == "KSampler")["inputs"]["steps"] == 2


def test_each_repeat_reads_its_inputs_under_new_names(tmp_path: Path) -> None:
    """Without a seed (an upscale), only a new input makes ComfyUI run the workflow again."""
    job = load_job(ROOT / "workflows" / "upscale-with-model", NODE_LIST)
    assert job.inputs
    first, second = (bench.fresh_inputs(job, tmp_path, i) for i in (1, 2))
    names = {p.name for p in first.inputs}
    assert names.isdisjoint(p.name for p in second.inputs) and names.isdisjoint(p.name for p in job.inputs)
    assert all(p.read_bytes() == o.read_bytes() for p, o in zip(first.inputs, job.inputs, strict=True))
    loader = next(n for n in first.prompt.values() if n["class_type"] == "LoadImage")["inputs"]["image"]
    assert loader in names


def test_workload_names_lessons_and_unknown_ones() -> None:
    assert [w.name for w in bench.workloads(["sd15-512", "lessons"], MODULES)] == [
        "sd15-512",
        *(m.slug for m in MODULES),
    ]
    with pytest.raises(AtelierError) as caught:
        bench.workloads(["sd3-1024"], MODULES)
    assert caught.value.code == "bench-workload-unknown" and "sdxl-1024" in str(caught.value)


# The arithmetic


def test_iterations_per_second_leaves_out_the_first_step() -> None:
    ticks = [(5.0, "KSampler", 1)]  # the first step, after a slow start
    ticks += [(5.0 + 0.1 * i, "KSampler", 1 + i) for i in range(1, 20)]
    ticks += [(9.0, "Upscale", 1), (9.5, "Upscale", 2)]  # a shorter run of another node
    assert bench.iterations_per_second(ticks) == pytest.approx(10.0)
    assert bench.iterations_per_second([(1.0, "KSampler", 1), (2.0, "KSampler", 2)]) is None


def test_summary_takes_medians_and_the_model_load_from_the_first_picture() -> None:
    found = bench.summary(9.0, [2.0, 1.0, 10.0], [4.0, None, 6.0])
    assert found.seconds_per_image == 2.0 and found.model_load_s == 7.0
    assert found.iterations_per_second == 5.0 and found.repeat == 3


def safetensors(path: Path, metadata: dict[str, str]) -> Path:
    header = json.dumps(
        {"__metadata__": metadata, "x": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}
    ).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0")
    return path


def test_weights_kind_reads_the_testmodel_mark(tmp_path: Path) -> None:
    assert bench.weights_kind(safetensors(tmp_path / "a.safetensors", {"atelier_testmodel": "random"})) == "random"
    assert bench.weights_kind(safetensors(tmp_path / "b.safetensors", {"format": "pt"})) == "real"


def test_device_names_lose_the_index_and_allocator() -> None:
    assert device_name("cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync") == "NVIDIA H100 80GB HBM3"
    assert device_name("mps") == "mps" and device_name("cpu") == "cpu"


def test_published_lesson_checks_are_filed_by_card_not_by_allocator() -> None:
    """`atelier check --publish` names its file after the GPU; two cards must not share one file."""
    h100 = {"gpu": "cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync", "cores": 16}
    a100 = {"gpu": "cuda:0 NVIDIA A100-SXM4-80GB : cudaMallocAsync", "cores": 16}
    assert hardware_slug(h100) == "nvidia-h100-80gb-hbm3" and hardware_slug(a100) == "nvidia-a100-sxm4-80gb"
    assert hardware_slug({"gpu": None, "cores": 2}) == "cpu-2-cores"


# The page


def test_device_rows_carry_hardware_date_versions_weights_and_the_figures(tmp_path: Path) -> None:
    results = benchpage.load_results(folder_with(tmp_path, a100=result()))
    table = benchpage.devices_table(results)
    cells = row(table, "NVIDIA A100-SXM4-80GB")
    assert cells[1:5] == [
        "2026-11-20 ([data](../benchmarks/a100.json))",
        "ComfyUI 0.3.64, PyTorch 2.9.1+cu128",
        "random, full size",
        "12 s",
    ]
    assert cells[5:] == ["1.50 s (10.0 it/s)", "3.50 s (6.0 it/s)", "9.0 GiB"]
    assert "Not measured yet: V100, L40S, H100, Apple M2." in table


def test_a_changed_file_changes_the_page(tmp_path: Path) -> None:
    before = benchpage.devices_table(benchpage.load_results(folder_with(tmp_path, a100=result())))
    changed = result(runs=[([], 1.25, 3.5)])
    after = benchpage.devices_table(benchpage.load_results(folder_with(tmp_path, a100=changed)))
    assert "1.50 s" in before and "1.25 s (10.0 it/s)" in after and before != after


def test_one_row_per_device_the_newest_and_cpu_rows_name_the_processor(tmp_path: Path) -> None:
    old = result(runs=[([], 2.0, 4.0)], date="2026-10-01T10:00:00+00:00")
    cpu = result(device="cpu", kind="cpu", runs=[([], 300.0, 2000.0)])
    table = benchpage.devices_table(benchpage.load_results(folder_with(tmp_path, old=old, new=result(), cpu=cpu)))
    assert [line.split(" | ")[0] for line in table.splitlines()[2:4]] == [
        "| NVIDIA A100-SXM4-80GB",
        "| CPU only: AMD EPYC 7763 (16 cores)",
    ]
    assert "2.00 s" not in table


def test_the_chart_draws_each_measured_figure_with_a_text_alternative(tmp_path: Path) -> None:
    cpu = result(device="cpu", kind="cpu", runs=[([], 300.0, 2000.0)])
    svg = benchpage.chart(benchpage.load_results(folder_with(tmp_path, a100=result(), cpu=cpu)))
    assert svg.startswith("<figure>") and 'role="img"' in svg and "<title" in svg
    desc = re.search(r"<desc[^>]*>(.*?)</desc>", svg).group(1)
    assert "NVIDIA A100-SXM4-80GB, SD 1.5, 512²: 1.50 s" in desc and "SDXL, 1024²: 2000.00 s" in desc
    assert len(re.findall(r"<rect ", svg)) == 4
    assert ">1 s<" in svg and ">10000 s<" in svg  # a log scale spanning GPU and CPU


def test_lesson_costs_book_whole_sessions_and_show_measured_runs(tmp_path: Path) -> None:
    table = benchpage.lessons_table(benchpage.load_results(folder_with(tmp_path, a100=result())), MODULES)
    for module in MODULES:
        cells = row(table, f"[{module.meta['title']}](../lessons/{module.slug}.md)")
        assert cells[1] == str(cost(module).gpu_minutes)
        assert cells[2] == {
            "txt2img-basics": "1.65 s (10.0 it/s), 3.0 GiB of GPU memory",
            "text-to-video": "skipped",
        }.get(module.slug, "not run")


def study(fast: tuple[float, float]) -> dict[str, Any]:
    return result(
        device="NVIDIA H100 80GB HBM3",
        runs=[([], 2.0, 4.0), (["--fast"], *fast), (["--use-split-cross-attention"], 2.4, 5.0)],
    )


def test_the_study_table_gives_each_option_against_the_default(tmp_path: Path) -> None:
    tables = benchpage.flags_tables(benchpage.load_results(folder_with(tmp_path, s=study((1.8, 3.0)))))
    assert row(tables, "`--fast`")[1:3] == [
        "1.80 s (10.0 it/s), 1.80–1.80 s, 10% less time",
        "3.00 s (6.0 it/s), 3.00–3.00 s, 25% less time",
    ]
    assert row(tables, "`--use-split-cross-attention`")[1] == "2.40 s (10.0 it/s), 2.40–2.40 s, 20% more time"
    assert row(tables, "default")[1] == "2.00 s (10.0 it/s), 2.00–2.00 s"


def test_advice_recommends_an_option_only_when_faster_on_both_workloads(tmp_path: Path) -> None:
    advice = benchpage.advice(benchpage.load_results(folder_with(tmp_path, s=study((1.7, 3.0)))))
    assert advice == (
        "- **NVIDIA H100 80GB HBM3**: `comfyui_args: ['--fast']` (that is, `--fast`): SD 1.5, 512² "
        "15% less time, SDXL, 1024² 25% less time, measured 2026-11-20."
    )
    mixed = benchpage.advice(benchpage.load_results(folder_with(tmp_path, s=study((1.7, 3.7)))))  # SDXL only 7.5%
    assert "keep the defaults" in mixed and "--fast" not in mixed
    overlapping = study((1.7, 3.0))
    overlapping["runs"][0]["workloads"][1]["runs_s"] = [2.9, 4.0, 4.1]  # one default repeat beat the option's
    assert "keep the defaults" in benchpage.advice(benchpage.load_results(folder_with(tmp_path, s=overlapping)))


@pytest.mark.parametrize(
    ("damage", "field"),
    [
        (lambda r: r["runs"][0].pop("device"), "runs[0] has no device"),
        (
            lambda r: r["runs"][0]["workloads"][1].update(seconds_per_image=None),
            "runs[0].workloads[1] (sdxl-1024) has no seconds_per_image",
        ),
        (lambda r: r.pop("date"), "it has no date"),
    ],
)
def test_a_damaged_file_is_named_with_its_field(tmp_path: Path, damage, field: str) -> None:
    broken = result()
    damage(broken)
    with pytest.raises(AtelierError) as caught:
        benchpage.load_results(folder_with(tmp_path, broken=broken))
    assert caught.value.code == "bench-results-bad"
    assert str(caught.value).startswith(f"{tmp_path / 'broken.json'} cannot be read as benchmark figures: {field}.")


def test_reference_figures_keep_their_sources() -> None:
    entries = benchpage.load_reference(ROOT / "docs" / "benchmarks" / "reference.yaml")
    table = benchpage.reference_table(entries)
    for item in entries:
        assert f"({item['url']})" in table and f"{item['value']} {item['unit']}" in table
    assert {"V100", "A100", "L40S", "H100", "M2"} <= {
        w for item in entries for w in ("V100", "A100", "L40S", "H100", "M2") if w in item["device"]
    }


def test_reference_without_a_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "reference.yaml"
    path.write_text(
        "- {device: X, workload: sd15-512, value: 1, unit: it/s, software: y, source_title: t, "
        "publisher: p, date: 2024}\n"
    )
    with pytest.raises(AtelierError, match="entry 1 has no url"):
        benchpage.load_reference(path)


def test_each_lessons_declared_gpu_memory_covers_what_was_measured() -> None:
    """Instructors pick GPUs by module.yaml's gpu_memory_gb; a measurement above it means the figure is wrong."""
    modules = {m.slug: m for m in MODULES}
    checked = 0
    for path, found in benchpage.load_results(ROOT / "docs" / "benchmarks"):
        for run in (r for r in found.runs if not r.flags):  # an option may take more; the defaults must fit
            for entry in run.workloads:
                if entry.figures and entry.lesson in modules and entry.figures.peak_gpu_bytes:
                    declared = float(modules[entry.lesson].meta["gpu_memory_gb"])
                    assert entry.figures.peak_gpu_bytes <= declared * 1e9, (path.name, entry.name, run.flags)
                    checked += 1
    assert checked >= 10


def test_the_committed_results_make_the_page() -> None:
    results = benchpage.load_results(ROOT / "docs" / "benchmarks")
    assert results, "no results in docs/benchmarks"
    table = benchpage.devices_table(results, all_profiles())
    for path, found in results:
        for run in found.runs:
            if not run.flags:
                assert benchpage.device_label(found, run) in table, path


def test_the_published_files_read_back_byte_for_byte() -> None:
    """docs/benchmarks/ is published data: reading a file and writing it again changes nothing."""
    files = sorted((ROOT / "docs" / "benchmarks").glob("*.json"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert json.dumps(BenchResult.from_json(json.loads(text), path).to_json(), indent=1) + "\n" == text, path.name


def test_each_kind_of_workload_and_run_is_written_with_the_keys_of_the_first_files(tmp_path: Path) -> None:
    """A failed workload gives its reason and no figures; a run whose ComfyUI did not start, its flags and why."""
    ran = (
        "sd15-512",
        "txt2img-basics",
        "SD 1.5",
        512,
        512,
        20,
        (ModelFile("v1-5-pruned-emaonly.safetensors", "real"),),
    )
    failed = WorkloadResult(*ran, status="failed", reason="out of memory")
    measured = WorkloadResult(*ran, status="measured", figures=bench.summary(3.0, [1.0, 1.2], [9.0, 9.5]))
    assert list(failed.to_json()) == [
        "name",
        "lesson",
        "about",
        "width",
        "height",
        "steps",
        "models",
        "status",
        "reason",
    ]
    assert list(measured.to_json())[7:] == [
        "status",
        "first_image_s",
        "seconds_per_image",
        "model_load_s",
        "iterations_per_second",
        "repeat",
        "runs_s",
        "peak_gpu_bytes",
        "peak_host_bytes",
    ]
    not_started = Run(("--use-flash-attention",), failed="ComfyUI did not start.")
    assert not_started.to_json() == {
        "flags": ["--use-flash-attention"],
        "workloads": [],
        "failed": "ComfyUI did not start.",
    }
    started = Run(
        (),
        (measured, failed),
        12.0,
        Device("cuda", "NVIDIA H200", 150 * 10**9),
        Versions("0.3.64", "2.11.0+cu130", "3.12.3", "0.1.0"),
    )
    data = BenchResult(
        "2026-11-25T17:10:21+00:00", Machine("AMD EPYC", 2, "Linux"), 2, (not_started, started)
    ).to_json()
    assert list(data) == ["atelier_bench", "date", "machine", "repeat", "runs"]
    assert list(data["runs"][1]) == ["flags", "workloads", "cold_start_s", "device", "versions"]
    assert BenchResult.from_json(json.loads(json.dumps(data)), tmp_path / "a.json").runs == (
        started,
    )  # the page leaves it out


# ComfyUI options per GPU, from the study to the session


def profile_with(tmp_path: Path, options: Any) -> Path:
    text = (CLUSTERS / "pegasus.yaml").read_text()
    target = tmp_path / "pegasus.yaml"
    target.write_text(
        text.replace("    memory_gb: 80\n", f"    memory_gb: 80\n    comfyui_args: {json.dumps(options)}\n", 1)
    )
    return target


def test_a_profile_gives_a_gpu_its_options_and_sessions_pass_them_on(tmp_path: Path) -> None:
    profile = load_profile(str(profile_with(tmp_path, ["--fast"])))
    assert profile.gpus["a100"].comfyui_args == ("--fast",) and profile.gpus["v100"].comfyui_args == ()
    command = slurm.serve_command(profile, profile.gpus["a100"], "/w", "/o", None)
    assert "--comfyui-option=--fast" in command
    assert not any(
        "comfyui-option" in part for part in slurm.serve_command(profile, profile.gpus["v100"], "/w", "/o", None)
    )


def test_a_profile_option_that_is_not_about_speed_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AtelierError) as caught:
        load_profile(str(profile_with(tmp_path, ["--listen"])))
    assert caught.value.code == "comfyui-option-refused"
    assert str(caught.value).startswith(
        f"--listen is not a ComfyUI option Atelier passes on ({tmp_path / 'pegasus.yaml'}, "
        "field gpus.a100.comfyui_args)."
    )


@pytest.mark.skipif(RUBY is None, reason=NO_RUBY)
def test_the_launch_forms_job_passes_the_options_on(tmp_path: Path) -> None:
    profile = load_profile(str(profile_with(tmp_path, ["--fast", "--bf16-unet"])))
    site = tmp_path / "atelier.yml"
    ood.deploy(tmp_path / "app", site, [profile], MODULES, app=ROOT / "ood" / "comfyui")
    values = {"cluster": profile.ood_cluster, "hours": "2", "lesson": "", "output_folder": "$HOME/x"}
    script = rendered("template/script.sh.erb", site, gpu=f"{profile.ood_cluster}:a100", **values)
    words = shlex.split(next(line for line in script.splitlines() if line.startswith("exec ")))  # as bash reads it
    assert [w for w in words if w.startswith("--comfyui-option")] == [
        "--comfyui-option=--fast",
        "--comfyui-option=--bf16-unet",
    ]
    plain = rendered("template/script.sh.erb", site, gpu=f"{profile.ood_cluster}:v100", **values)
    assert "--comfyui-option" not in plain


def test_a_mac_row_is_named_by_its_chip_and_counts_as_the_m2(tmp_path: Path) -> None:
    mac = result(device="mps", kind="mps", runs=[([], 20.0, 90.0)])
    mac["machine"]["cpu"] = "Apple M2 Max"
    table = benchpage.devices_table(benchpage.load_results(folder_with(tmp_path, mac=mac)))
    assert row(table, "Apple M2 Max (MPS)")[5] == "20.00 s (10.0 it/s)"
    assert "Not measured yet: V100, A100, L40S, H100." in table


def test_slow_speeds_keep_two_decimals(tmp_path: Path) -> None:
    cpu = result(device="cpu", kind="cpu", runs=[([], 297.0, 2000.0)])
    cpu["runs"][0]["workloads"][0]["iterations_per_second"] = 0.071
    table = benchpage.devices_table(benchpage.load_results(folder_with(tmp_path, cpu=cpu)))
    assert row(table, "CPU only: AMD EPYC 7763 (16 cores)")[5] == "297.00 s (0.07 it/s)"


def test_rows_take_each_devices_newest_run_that_measured_them(tmp_path: Path) -> None:
    """The Add a row steps write three files; a newer lessons-only or study file must not blank the row."""
    lessons_only = result(date="2026-11-21T10:00:00+00:00", runs=[([], 1.0, 2.0)])
    lessons_only["runs"][0]["workloads"] = lessons_only["runs"][0]["workloads"][2:]  # txt2img-basics, text-to-video
    newer_study = result(date="2026-11-22T10:00:00+00:00", runs=[([], 1.2, 3.0), (["--fast"], 1.1, 2.9)])
    for run in newer_study["runs"]:
        run["workloads"] = run["workloads"][:2]
    results = benchpage.load_results(folder_with(tmp_path, a=result(), b=lessons_only, c=newer_study))
    assert row(benchpage.devices_table(results), "NVIDIA A100-SXM4-80GB")[5] == "1.20 s (10.0 it/s)"
    lessons = benchpage.lessons_table(results, MODULES)
    assert row(lessons, "[Your first image](../lessons/txt2img-basics.md)")[2].startswith("1.10 s")


def test_a_quick_look_or_reduced_models_never_stand_for_a_standard_figure(tmp_path: Path) -> None:
    quick = result(date="2026-11-21T10:00:00+00:00", runs=[([], 0.1, 0.2)])
    quick["runs"][0]["workloads"][0].update(width=64, height=64, steps=3)
    quick["runs"][0]["workloads"][1]["models"][0]["weights"] = "random (tiny)"
    table = benchpage.devices_table(benchpage.load_results(folder_with(tmp_path, a=result(), q=quick)))
    assert row(table, "NVIDIA A100-SXM4-80GB")[5:7] == ["1.50 s (10.0 it/s)", "3.50 s (6.0 it/s)"]


def test_a_run_whose_comfyui_did_not_start_is_left_out(tmp_path: Path) -> None:
    found = study((1.7, 3.0))
    found["runs"].append({"flags": ["--use-flash-attention"], "workloads": [], "failed": "ComfyUI did not start."})
    tables = benchpage.flags_tables(benchpage.load_results(folder_with(tmp_path, s=found)))
    assert "--use-flash-attention" not in tables and "`--fast`" in tables


@pytest.mark.parametrize(
    ("options", "cpu", "clash"),
    [
        (
            ["--use-split-cross-attention", "--use-quad-cross-attention"],
            False,
            "--use-split-cross-attention and --use-quad",
        ),
        (["--lowvram"], True, "--lowvram and --cpu"),
        (["--fp16-vae", "--bf16-vae"], False, "--fp16-vae and --bf16-vae"),
    ],
)
def test_options_comfyui_refuses_together_are_refused_before_a_session(
    options: list[str], cpu: bool, clash: str
) -> None:
    from atelier.comfy.server import tuning

    with pytest.raises(AtelierError) as caught:
        tuning(options, "gpus.a100.comfyui_args", cpu)
    assert caught.value.code == "comfyui-options-clash" and str(caught.value).startswith(clash)
    assert tuning(["--fast", "--bf16-unet", "--fp16-vae"], "x") == ["--fast", "--bf16-unet", "--fp16-vae"]


class _Lacking:
    """A stand-in for a ComfyUI that answers which node types it lacks."""

    def __init__(self, lacking: set[str]) -> None:
        self.lacking = lacking
        self.asked: set[str] = set()

    def lacks(self, node_types: set[str]) -> set[str]:
        self.asked |= node_types
        return node_types & self.lacking


def test_a_module_whose_custom_node_is_not_loaded_is_skipped_with_the_reason() -> None:
    from atelier.check.lessons import missing_custom_nodes
    from atelier.lessons.modules import load_module

    depth = load_module(ROOT / "workflows" / "depth-controlnet")
    plain = load_module(ROOT / "workflows" / "controlnet")
    absent = _Lacking({"DepthAnything_V2", "DownloadAndLoadDepthAnythingV2Model"})
    reason = missing_custom_nodes(depth, NODE_LIST, absent)  # type: ignore[arg-type]
    assert reason == (
        "needs the custom node ComfyUI-DepthAnythingV2 (https://github.com/kijai/ComfyUI-DepthAnythingV2.git), "
        "which this ComfyUI has not loaded: install it in its custom_nodes folder and name it in "
        "ATELIER_CUSTOM_NODES"
    )
    assert absent.asked == {"DepthAnything_V2", "DownloadAndLoadDepthAnythingV2Model"}  # only the custom node's types
    assert missing_custom_nodes(depth, NODE_LIST, _Lacking(set())) == ""  # type: ignore[arg-type]
    untouched = _Lacking({"KSampler"})
    assert missing_custom_nodes(plain, NODE_LIST, untouched) == "" and untouched.asked == set()  # type: ignore[arg-type]
