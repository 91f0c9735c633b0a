"""The app in Open OnDemand's own dashboard code: the form, staging, submission, the card.

And CI's stand-in (tests/ood_standin.py, tests/ood_render.rb) held to it: the same
rendered files with the same modes, and the same sbatch arguments.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from atelier.hpc.profiles import load_profile
from atelier.lessons.modules import all_modules, ordered
from tests import ood_standin
from tests.ood.conftest import PORTS, ROOT, SlurmCluster, make_site, needs_ood, values

pytestmark = needs_ood
# Files OOD itself writes beside the staged templates, not rendered from the app.
OOD_OWN = {
    "job_script_content.sh",
    "job_script_options.json",
    "user_defined_context.json",
    "output.log",
    "connection.yml",
}


def _wait_ended(slurm: SlurmCluster, job_id: str, timeout: float = 90) -> None:
    slurm.wait_for(job_id, {"COMPLETED", "FAILED", "CANCELLED"}, timeout=timeout)


def test_the_dashboard_offers_only_its_own_clusters_and_their_limits(slurm: SlurmCluster, tmp_path: Path) -> None:
    """Pegasus is in the site file but not in this OOD's clusters.d: it is not offered, nor its GPUs."""
    site = make_site(tmp_path, slurm, [load_profile("local"), load_profile("pegasus")])
    form = site.form()
    assert form["valid"] and [c["id"] for c in form["clusters"]] == ["local"]
    fields = {a["id"]: a for a in form["attributes"]}
    assert list(fields) == ["cluster", "gpu", "hours", "lesson", "output_folder"]
    assert [o["value"] for o in fields["gpu"]["options"]] == ["local:cpu", "local:card", "local:quarter"]
    # The quarter card (5 GB) is hidden by OOD's form script while a lesson that needs more is chosen.
    quarter = fields["gpu"]["options"][2]["attributes"]
    assert quarter["data-option-for-lesson-sdxl-basics"] is False
    assert "data-option-for-lesson-txt2img-basics" not in quarter
    # OOD's form script takes limits from a select's options: the GPU carries its cluster's.
    assert fields["gpu"]["options"][0]["attributes"]["data-max-hours"] == 24
    hours = fields["hours"]
    assert (hours["value"], hours["min"], hours["max"]) == ("1", 1, 24)
    lessons = [o["label"] for o in fields["lesson"]["options"][1:]]
    assert lessons == [m.title for m in ordered(all_modules(ROOT / "workflows"))]


def test_launch_stages_and_submits_as_the_stand_in_does(slurm: SlurmCluster, tmp_path: Path) -> None:
    site = make_site(tmp_path, slurm, [load_profile("local")])
    chosen = values(tmp_path / "outputs")
    launched = site.submit(chosen)
    staged = Path(launched["staged_root"])
    _wait_ended(slurm, launched["job_id"])

    # The same files from the templates, the same text, the same modes.
    mine = ood_standin.stage(site.app, site.site_file, chosen, tmp_path / "stand-in")
    rendered = sorted(p.relative_to(mine) for p in mine.rglob("*") if p.is_file() and p.name not in OOD_OWN)
    assert rendered and all((staged / p).is_file() for p in rendered)
    for path in rendered:
        assert (staged / path).read_bytes() == (mine / path).read_bytes(), path
        assert (staged / path).stat().st_mode & 0o777 == (mine / path).stat().st_mode & 0o777, path
    assert (staged / "script.sh").stat().st_mode & 0o111  # OOD runs it directly
    assert json.loads((staged / "user_defined_context.json").read_text()) == chosen

    # The same sbatch arguments, --export NONE among them.
    real = launched["sbatch_argv"]
    assert len(real) == 1 and "--export" in real[0] and real[0][real[0].index("--export") + 1] == "NONE"
    submit = ood_standin.submit_options(site.app, site.site_file, chosen)
    expected = ood_standin.sbatch_args(submit, staged, job_name=real[0][real[0].index("-J") + 1])
    assert real[0] == expected


def test_a_session_without_comfyui_ends_with_a_plain_reason_on_its_card(slurm: SlurmCluster, tmp_path: Path) -> None:
    """The job really runs under OOD's wrapper: atelier is found without any PATH of ours, and says why it stops."""
    site = make_site(tmp_path, slurm, [load_profile("local")])
    launched = site.submit(values(tmp_path / "outputs"))
    _wait_ended(slurm, launched["job_id"])
    staged = Path(launched["staged_root"])
    log = (staged / "output.log").read_text()
    assert "Error: No ComfyUI was found at" in log, log
    assert "The session is not running; the lines above say why" in log
    deadline = time.monotonic() + 30
    card = site.session(launched["session_id"])
    while not card["completed"]:
        assert time.monotonic() < deadline, card["status"]
        time.sleep(1)
        card = site.session(launched["session_id"])
    assert card["completed_view_error"] is None and str(tmp_path / "outputs") in card["completed_view"]
    assert card["info_view_error"] is None and str(tmp_path / "outputs") in card["info_view"]
    assert "Workflows" in card["info_view"]
    # The card offers the job's log (here the plain reason) for download through the Files app.
    assert f'href="/pun/sys/dashboard/files/fs{staged}/output.log?download=' in card["info_view"]


def test_the_job_script_takes_the_same_steps_as_the_stand_in(slurm: SlurmCluster, tmp_path: Path) -> None:
    """host from the node's `hostname`, a port from the cluster's range, script.sh run directly."""
    site = make_site(tmp_path, slurm, [load_profile("local")])
    launched = site.submit(values(tmp_path / "outputs"))
    _wait_ended(slurm, launched["job_id"])
    staged = Path(launched["staged_root"])
    for script in ((staged / "job_script_content.sh").read_text(), ood_standin.job_script(staged, *PORTS)):
        lines = [line.strip() for line in script.splitlines()]
        found = [lines.index(step) if step in lines else -1 for step in ood_standin.steps(staged, *PORTS)]
        assert -1 not in found and found == sorted(found), found
