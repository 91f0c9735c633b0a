"""The Teach pages' figures are made from module.yaml, the cluster profiles and the pin.

An instructor books GPU time from these tables, so each figure is checked against the
file it comes from, and a changed file must change the page.
"""

from __future__ import annotations

import dataclasses
import re
from math import ceil
from pathlib import Path

import pytest
import yaml

from atelier.hpc.classplan import Cost
from atelier.hpc.profiles import load_profile, profile_names
from atelier.lessons.meta import LEVELS, read_meta
from atelier.lessons.modules import Module, all_modules
from atelier.lessons.pin import TERMS, load_pin
from atelier.site.checks import CLAIMS
from atelier.site.pages.teach import (
    CRIT_MARKERS,
    MARKERS,
    WEEKS,
    crit_knobs,
    gpu_example,
    gpu_time_table,
    in_order,
    order_table,
    plan_table,
    semester_plan,
    semester_text,
    sessions_table,
    shell_table,
    terms_table,
)

ROOT = Path(__file__).resolve().parents[2]
MODULES = all_modules(ROOT / "workflows")
PROFILES = [load_profile(name) for name in profile_names()]
PIN = load_pin(ROOT / "workflows" / "pin.yaml")


def rows(table: str) -> dict[str, list[str]]:
    """Module slug -> the cells of its row."""
    found = {}
    for line in table.splitlines():
        link = re.search(r"\(\.\./lessons/([\w-]+)\.md\)", line.split(" | ")[0])
        if line.startswith("| [") and link:
            found[link.group(1)] = [cell.strip() for cell in line.strip("|").split(" | ")]
    return found


def edited(module: Module, **fields: object) -> Module:
    """The module as it loads once its module.yaml says `fields` instead."""
    return dataclasses.replace(module, meta={**module.meta, **fields})


def header(table: str) -> list[str]:
    return [cell.strip() for cell in table.splitlines()[0].strip("|").split(" | ")]


def test_gpu_table_has_a_row_per_module_with_the_figures_of_its_module_yaml() -> None:
    table = gpu_time_table(MODULES, PROFILES)
    found = rows(table)
    assert set(found) == {m.slug for m in MODULES}
    for slug, cells in found.items():
        meta = yaml.safe_load((ROOT / "workflows" / slug / "module.yaml").read_text())
        teaching, exercises = meta["minutes"]["teaching"], meta["minutes"]["exercises"]
        hours = max(1, ceil((teaching + exercises) / 60))
        session = f"{hours} hour" + "s" * (hours != 1)
        assert cells[1:7] == [
            meta["level"],
            f"{teaching} min",
            f"{exercises} min",
            session,
            f"{hours * 60:,}",
            f"{meta['gpu_memory_gb']:g} GB",
        ], slug


def test_gpu_table_has_a_column_per_cluster_with_a_gpu() -> None:
    columns = header(gpu_time_table(MODULES, PROFILES))
    with_gpus = [p.title for p in PROFILES if any(not g.cpu for g in p.gpus.values())]
    assert columns[7:] == [f"Fits on {title}" for title in with_gpus]
    assert "Fits on This machine (tests)" not in columns  # CPU only: nothing to book


@pytest.mark.parametrize(("minutes", "hours"), [(0, 1), (35, 1), (60, 1), (61, 2), (65, 2), (120, 2), (121, 3)])
def test_a_session_is_the_lesson_rounded_up_to_whole_hours(minutes: int, hours: int) -> None:
    cost = Cost(teaching=minutes, exercises=0, memory_gb=4)
    assert (cost.hours, cost.gpu_minutes) == (hours, hours * 60)


def test_a_changed_module_changes_its_row() -> None:
    """Drift: more minutes and more memory than before give a longer session and fewer GPUs."""
    before = rows(gpu_time_table(MODULES, PROFILES))["txt2img-basics"]
    changed = [
        edited(m, minutes={"teaching": 50, "exercises": 40}, gpu_memory_gb=40) if m.slug == "txt2img-basics" else m
        for m in MODULES
    ]
    table = gpu_time_table(changed, PROFILES)
    after = rows(table)["txt2img-basics"]
    assert after != before
    assert after[2:7] == ["50 min", "40 min", "2 hours", "120", "40 GB"]
    for column, profile in zip(
        header(table)[7:], [p for p in PROFILES if any(not g.cpu for g in p.gpus.values())], strict=False
    ):
        cell = after[header(table).index(column)]
        big = [g.title for g in profile.gpus.values() if g.memory_gb >= 40]
        small = [g.title for g in profile.gpus.values() if g.memory_gb < 40]
        assert cell == (", ".join(big) if big else "none: too little memory")
        assert not any(title in cell for title in small)
    assert rows(gpu_time_table(MODULES, PROFILES))["txt2img-basics"] == before  # the original is untouched


def test_a_changed_profile_changes_which_gpus_fit() -> None:
    pegasus = load_profile("pegasus")
    first, *others = pegasus.gpus.values()
    small = dataclasses.replace(first, memory_gb=1)
    unknown = dataclasses.replace(others[0], memory_gb=0)
    edited = dataclasses.replace(
        pegasus, gpus={first.name: small, unknown.name: unknown, **{g.name: g for g in others[1:]}}
    )
    cell = rows(gpu_time_table(MODULES, [edited]))["txt2img-basics"][7]
    assert first.title not in cell
    assert f"{unknown.title} (memory not in the profile)" in cell


def test_every_module_comes_after_its_prerequisites() -> None:
    order = [m.slug for m in in_order(MODULES)]
    assert sorted(order) == sorted(m.slug for m in MODULES)
    assert order[0] == "txt2img-basics"
    for module in MODULES:
        for needed in module.meta.get("prerequisites") or []:
            assert order.index(needed) < order.index(module.slug), (needed, module.slug)
    table = order_table(MODULES)
    assert (
        "| [Repaint one part (inpainting)](../lessons/inpainting.md) | intermediate | Image | "
        "[Repaint a picture (image to image)](../lessons/img2img.md) |" in table
    )


def test_a_loop_of_prerequisites_still_lists_every_module() -> None:
    looped = [edited(m, prerequisites=["inpainting"]) if m.slug == "img2img" else m for m in MODULES]
    assert sorted(m.slug for m in in_order(looped)) == sorted(m.slug for m in MODULES)


def test_the_worked_example_is_computed_from_the_modules() -> None:
    first = in_order(MODULES)[0]
    cost = Cost(first.meta["minutes"]["teaching"], first.meta["minutes"]["exercises"], first.meta["gpu_memory_gb"])
    text = gpu_example(MODULES, students=7)
    assert (
        f"{cost.teaching} + {cost.exercises} = {cost.minutes} minutes" in text
        and f"7 × {cost.hours} × 60 = {7 * cost.gpu_minutes:,} GPU minutes" in text
    )
    changed = [edited(m, minutes={"teaching": 60, "exercises": 30}) if m.slug == first.slug else m for m in MODULES]
    assert "7 × 2 × 60 = 840 GPU minutes" in gpu_example(changed, students=7)


def test_sessions_and_shell_tables_come_from_the_profiles() -> None:
    sessions = sessions_table(PROFILES)
    shell = shell_table(PROFILES)
    for profile in PROFILES:
        if profile.prefix:
            assert f"| {profile.title} | `source {profile.prefix}/atelier.env` |" in shell
            assert f"{profile.cpus_per_gpu} CPU cores and {profile.memory_per_gpu_gb} GB of memory" in sessions
    assert "This machine" not in sessions + shell


def test_semester_text_follows_the_pin() -> None:
    text = semester_text(PIN, MODULES)
    assert f"**{PIN.docs_title}**" in text and f"/{PIN.docs_version}/teach/semesters/" in text
    assert f"ComfyUI {PIN.comfyui_version}" in text
    later = dataclasses.replace(PIN, semester="2031-spring", comfyui_version="0.9.1")
    assert "/2031-2-spring/teach/semesters/" in semester_text(later, MODULES)
    assert "ComfyUI 0.9.1" in semester_text(later, MODULES)
    terms = terms_table(PIN)
    assert all(f"| {term} |" in terms for term in TERMS)


def test_built_teach_pages_hold_the_generated_text(published_site) -> None:
    """The site as published: every marker replaced, the GPU table with a row per module."""
    _, folder = published_site
    teach = {
        page: (folder / "teach" / page / "index.html").read_text(encoding="utf-8")
        for page in ("assign", "gpu-time", "review", "semesters", "plan", "crit")
    }
    for page, text in teach.items():
        assert not any(marker in text for marker in MARKERS), page
    gpu = teach["gpu-time"]
    # "GPU" itself is wrapped in the glossary's tooltip, so look for the rest of the heading.
    table = next(t for t in re.findall(r"<table>.*?</table>", gpu, re.S) if "minutes per student" in t)
    assert table.count("<tr>") == len(MODULES) + 1  # the header and one row per module
    for module in MODULES:
        assert f'href="../../lessons/{module.slug}/"' in table
    assert f"/{PIN.docs_version}/teach/semesters/" in teach["semesters"]
    assert "atelier.env" in teach["review"]
    assert 'href="../../lessons/inpainting/"' in teach["assign"]


TEACH = ROOT / "docs" / "teach"


def week_cells(table: str) -> dict[str, str]:
    """Module slug -> the Week cell of its row in the order table."""
    found = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        found[re.search(r"\(\.\./lessons/([\w-]+)\.md\)", cells[1]).group(1)] = cells[-1]
    return found


def test_the_plan_and_the_order_table_agree_and_hold_every_module_once() -> None:
    plan = semester_plan(MODULES)
    taught = [m.slug for week in plan for m in week.modules]
    assert taught == [m.slug for m in in_order(MODULES)]  # the same order, each module once
    assert sorted(taught) == sorted(m.slug for m in MODULES)
    weeks = {m.slug: str(week.number) for week in plan for m in week.modules}
    assert week_cells(order_table(MODULES)) == weeks
    table = plan_table(MODULES)
    for week in plan:
        for module in week.modules:
            assert re.search(rf"^\| {week.number} \| Lesson \| .*\(\.\./lessons/{module.slug}\.md\)", table, re.M)


def test_prerequisites_come_before_the_modules_that_need_them_in_the_plan() -> None:
    place = {m.slug: (week.number, i) for week in semester_plan(MODULES) for i, m in enumerate(week.modules)}
    for module in MODULES:
        for needed in module.about.prerequisites:
            assert place[needed] < place[module.slug], (needed, module.slug)


def test_the_plan_has_fourteen_weeks_and_names_those_without_a_module() -> None:
    plan = semester_plan(MODULES)
    assert [w.number for w in plan] == list(range(1, WEEKS + 1))
    assert len(plan[0].modules) == 1  # week 1 is also the Start here walk-through
    assert plan[-1].kind == "final" and plan[-2].kind == "project"
    for week in plan:
        assert (week.kind == "lesson") == bool(week.modules), week
    levels = list(dict.fromkeys(m.about.level for m in in_order(MODULES)))
    crits = [w for w in plan if w.kind == "crit"]
    assert [w.level for w in crits] == levels  # one crit after each level's run of weeks
    for crit in crits:
        before = [w for w in plan if w.number < crit.number and w.kind == "lesson"]
        assert before and before[-1].level == crit.level and plan[crit.number - 2].kind == "lesson"
    table = plan_table(MODULES)
    assert f"| {crits[0].number} | Crit | Crit of the {crits[0].level} modules" in table
    assert f"| {WEEKS} | Final crit |" in table


def test_a_module_and_the_one_it_builds_on_share_a_week_before_other_pairs() -> None:
    plan = semester_plan(MODULES)
    together = {tuple(m.slug for m in w.modules) for w in plan if len(w.modules) > 1}
    assert ("controlnet", "depth-controlnet") in together


def test_a_changed_module_moves_in_the_plan_and_the_table_alike() -> None:
    """Drift: a module without `order` (a teacher's new one) goes last in its level, in both."""
    changed = [edited(m, order=None) if m.slug == "prompts-and-negatives" else m for m in MODULES]
    first_year = [m.slug for m in in_order(changed) if m.about.level == "first-year"]
    assert first_year[-1] == "prompts-and-negatives"
    weeks = {m.slug: str(w.number) for w in semester_plan(changed) for m in w.modules}
    assert week_cells(order_table(changed)) == weeks
    fewer = [m for m in MODULES if m.about.level == "first-year"]
    assert [w.kind for w in semester_plan(fewer)][-3:] == ["project", "project", "final"]  # spare weeks: studio
    assert len(semester_plan(fewer)) == WEEKS


def test_every_shipped_module_has_its_own_place_in_the_semester() -> None:
    orders = {m.slug: m.meta.get("order") for m in MODULES}
    assert all(isinstance(o, int) and not isinstance(o, bool) and o > 0 for o in orders.values()), orders
    assert len(set(orders.values())) == len(orders), orders


@pytest.mark.parametrize("value", [0, -1, "first", 1.5, True])
def test_a_wrong_order_is_named_and_a_missing_one_is_fine(value: object) -> None:
    meta = yaml.safe_load((ROOT / "workflows" / "txt2img-basics" / "module.yaml").read_text())
    found = read_meta({**meta, "order": value}, Path("module.yaml"))
    assert found.order is None and [f.values["field"] for f in found.problems] == ["order"]
    meta.pop("order")
    assert read_meta(meta, Path("module.yaml")).problems == ()


def test_the_crit_page_has_a_rubric_and_the_knobs_for_every_level() -> None:
    page = (TEACH / "crit.md").read_text(encoding="utf-8")
    for level in LEVELS:
        section = page.split(f"\n## {level.capitalize()}\n")[1].split("\n## ")[0]
        assert "| Criterion | Excellent | Good | Adequate | Not yet |" in section, level
        for criterion in ("Process", "Intent", "Critique of the tool", "The work"):
            assert f"\n| {criterion} |" in section, (level, criterion)
        assert CRIT_MARKERS[level] in section
    knobs = crit_knobs(MODULES, "first-year")
    for module in MODULES:
        if module.about.level == "first-year":
            assert f"(../lessons/{module.slug}.md)" in knobs
            assert all(f"`{k.input}` on *{k.node}*" in knobs for k in module.about.knobs)
        else:
            assert f"(../lessons/{module.slug}.md)" not in knobs
    assert "No module of this semester is marked advanced" in crit_knobs([], "advanced")


def test_the_teach_pages_and_the_reservations_page_make_no_claim_about_checks() -> None:
    """Only the recorded reports may say a lesson was checked or measured (the lead's records)."""
    pages = [*TEACH.glob("*.md"), ROOT / "docs" / "runbook" / "reservations.md"]
    assert {p.name: CLAIMS.findall(p.read_text(encoding="utf-8")) for p in pages if CLAIMS.search(p.read_text())} == {}
    for page in pages:
        assert not re.search(r"GPU hours? (?:for|per) (?:the|a) (?:class|semester)", page.read_text()), page.name
