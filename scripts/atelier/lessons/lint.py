"""Lint: check every lesson module offline, against the node list.

Each check turns what could break in class into a message before class: a node the
pinned ComfyUI lacks, a value out of range, a link between mismatched types, a model
nobody can download, a knob the lesson page would describe wrongly. All findings of a
module are reported together, each naming the file, node id and title, and input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atelier.lessons.convert import to_api
from atelier.lessons.meta import FIELDS, field_rank
from atelier.lessons.modules import (
    CANVAS_ONLY,
    Module,
    is_plain_workflow,
    load_module,
    load_workflow,
    module_folders,
    node_models,
    node_title,
)
from atelier.lessons.nodes import NodeList, expected, fits
from atelier.lessons.pin import CustomNode
from atelier.messages import AtelierError, Finding

SOCKETLESS = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_FLAGS = {"image_upload", "video_upload", "audio_upload", "file_upload"}


def lint(
    paths: list[Path],
    node_list: NodeList,
    pinned_version: str | None = None,
    pinned_nodes: list[CustomNode] | None = None,
) -> dict[Path, list[Finding]]:
    """Findings per module folder or plain workflow file (an empty list: it is clean).

    With `pinned_nodes` (the semester pin's custom nodes), a module that needs a custom node is
    also held to the pin: the node must be pinned, at the commit the node list was made from.
    """
    folders = module_folders(paths)
    plain = [path for path in paths if is_plain_workflow(path)]
    if not folders and not plain:
        raise AtelierError("lint-no-modules", path=", ".join(str(p) for p in paths))
    results: dict[Path, list[Finding]] = {path: lint_workflow(path, node_list) for path in plain}
    siblings: dict[Path, set[str]] = {}  # modules beside each folder, for prerequisites; listed once
    for folder in folders:
        if folder.parent not in siblings:
            siblings[folder.parent] = {p.name for p in module_folders([folder.parent])}
        results[folder] = lint_module(folder, node_list, siblings[folder.parent], pinned_nodes)
    if pinned_version and pinned_version != node_list.comfyui_version:
        first = next(iter(results))
        results[first].insert(
            0, Finding("lint-node-list-version", {"node_list": node_list.comfyui_version, "pinned": pinned_version})
        )
    return results


def lint_workflow(path: Path, node_list: NodeList) -> list[Finding]:
    """A workflow a teacher brings: whether the pinned ComfyUI can run it, per node and field.

    Only what a run needs is checked (nodes, links, values, models, input files); what
    makes a lesson (module.yaml, knobs, licences) waits for `atelier new-module --from-workflow`.
    """
    try:
        module = load_workflow(path)
    except AtelierError as err:
        return [Finding(err.code, err.values)]
    graph = check_graph(module, node_list)
    if any(f.code in {"lint-unknown-node", "lint-online-node", "lint-dangling-link", "lint-subgraph"} for f in graph):
        return graph
    return graph + check_values(module, node_list)


def lint_module(
    folder: Path, node_list: NodeList, known_modules: set[str], pinned_nodes: list[CustomNode] | None = None
) -> list[Finding]:
    try:
        module = load_module(folder)
    except AtelierError as err:
        return [Finding(err.code, err.values)]
    findings = check_meta(module, known_modules)
    graph = check_graph(module, node_list)
    findings += graph
    if not any(
        f.code in {"lint-unknown-node", "lint-online-node", "lint-dangling-link", "lint-subgraph"} for f in graph
    ):
        findings += check_values(module, node_list)
    findings += check_knobs(module, node_list)
    findings += check_custom_nodes(module, node_list, pinned_nodes)
    return findings


# --- module.yaml -----------------------------------------------------------------


def check_meta(module: Module, known_modules: set[str]) -> list[Finding]:
    """module.yaml's problems, found when it was read, and the prerequisites that name no neighbour.

    Both come in module.yaml's field order, prerequisites in their place among the others.
    """
    problems = list(module.about.problems)
    unknown = [
        Finding("lint-prerequisite", {"file": module.meta_path, "module": name, "folder": module.folder.parent})
        for name in module.about.prerequisites
        if name not in known_modules or name == module.slug
    ]
    after = FIELDS.index("prerequisites")
    at = next((i for i, f in enumerate(problems) if field_rank(str(f.values["field"])) > after), len(problems))
    return problems[:at] + unknown + problems[at:]


# --- the graph -------------------------------------------------------------------


def _node_ref(module: Module, node: dict[str, Any], node_list: NodeList) -> dict[str, Any]:
    names = {name: spec.get("display_name", name) for name, spec in node_list.nodes.items()}
    return {"file": module.workflow_path, "node": node.get("id"), "title": node_title(node, names)}


def _compatible(output_type: str, input_type: Any) -> bool:
    if not isinstance(input_type, str):
        return output_type in {"COMBO", "*"}  # a list of choices takes a COMBO output
    if "*" in (output_type, input_type):
        return True
    return bool(set(output_type.split(",")) & set(input_type.split(",")))


def check_graph(module: Module, node_list: NodeList) -> list[Finding]:
    found: list[Finding] = []
    nodes = {node.get("id"): node for node in module.nodes()}
    definitions = module.workflow.get("definitions")
    subgraphs = {
        str(g.get("id")): str(g.get("name") or "subgraph")
        for g in (definitions.get("subgraphs") or [] if isinstance(definitions, dict) else [])
        if isinstance(g, dict)
    }
    for node in nodes.values():
        node_type = node.get("type")
        if node_type in CANVAS_ONLY or node_type in node_list.nodes:
            continue
        ref = {**_node_ref(module, node, node_list), "type": node_type}
        if node_type in subgraphs:  # a group of nodes the canvas folds into one; the converter cannot open it
            found.append(Finding("lint-subgraph", {**ref, "title": node.get("title") or subgraphs[node_type]}))
        elif node_type in node_list.api_nodes:
            found.append(Finding("lint-online-node", ref))
        else:
            found.append(Finding("lint-unknown-node", {**ref, "version": node_list.comfyui_version}))
    links = {}
    for link in module.workflow.get("links", []):
        if not isinstance(link, list) or len(link) < 5:
            found.append(
                Finding(
                    "lint-dangling-link",
                    {
                        "file": module.workflow_path,
                        "link": link,
                        "problem": "is not [id, from node, slot, to node, slot, type]",
                    },
                )
            )
            continue
        link_id, source_id, source_slot, target_id, target_slot = link[:5]
        links[link_id] = link
        source, target = nodes.get(source_id), nodes.get(target_id)
        for end, node_id in (("from", source_id), ("to", target_id)):
            if (source if end == "from" else target) is None:
                found.append(
                    Finding(
                        "lint-dangling-link",
                        {
                            "file": module.workflow_path,
                            "link": link_id,
                            "problem": f"comes {end} node {node_id}, which is not in the workflow",
                        },
                    )
                )
        if source is None or target is None:
            continue
        if source.get("type") not in node_list.nodes or target.get("type") not in node_list.nodes:
            continue
        outputs = node_list.nodes[source["type"]].get("output", [])
        inputs = target.get("inputs", [])
        if not (0 <= source_slot < len(outputs)) or not (0 <= target_slot < len(inputs)):
            found.append(
                Finding(
                    "lint-dangling-link",
                    {
                        "file": module.workflow_path,
                        "link": link_id,
                        "problem": "names an output or input slot the nodes do not have",
                    },
                )
            )
            continue
        input_name = inputs[target_slot].get("name")
        spec = node_list.input_spec(target["type"], input_name)
        if spec is None:
            found.append(
                Finding(
                    "lint-dangling-link",
                    {
                        "file": module.workflow_path,
                        "link": link_id,
                        "problem": f"goes into {input_name}, which {target['type']} does not have",
                    },
                )
            )
        elif not _compatible(outputs[source_slot], spec[0]):
            found.append(
                Finding(
                    "lint-link-type",
                    {
                        **_node_ref(module, target, node_list),
                        "link": link_id,
                        "input": input_name,
                        "input_type": spec[0] if isinstance(spec[0], str) else "a choice",
                        "source": source_id,
                        "source_title": _node_ref(module, source, node_list)["title"],
                        "source_type": outputs[source_slot],
                    },
                )
            )
    for node in nodes.values():
        if node.get("type") not in node_list.nodes or node.get("mode", 0) in (2, 4):  # muted or bypassed
            continue
        connected = {}
        for slot in node.get("inputs", []):
            link_id = slot.get("link")
            if link_id is not None and link_id not in links:
                found.append(
                    Finding(
                        "lint-dangling-link",
                        {
                            "file": module.workflow_path,
                            "link": link_id,
                            "problem": f"is named by node {node.get('id')} but is not in the workflow",
                        },
                    )
                )
            connected[slot.get("name")] = link_id is not None
        for name in node_list.nodes[node["type"]].get("input", {}).get("required", {}):
            kind, _ = node_list.input_spec(node["type"], name)
            if isinstance(kind, str) and kind not in SOCKETLESS and not connected.get(name):
                found.append(Finding("lint-unconnected", {**_node_ref(module, node, node_list), "input": name}))
    return found


# --- values, models and input files ----------------------------------------------------


def check_values(module: Module, node_list: NodeList) -> list[Finding]:
    try:
        prompt, _ = to_api(module.workflow, node_list, module.workflow_path)
    except AtelierError as err:
        return [Finding(err.code, err.values)]
    found: list[Finding] = []
    ui_nodes = {str(node.get("id")): node for node in module.nodes()}
    declared_licences = {m.name for m in module.about.models if m.licence}
    for node_id, api_node in prompt.items():
        node = ui_nodes.get(node_id, {"id": node_id, "type": api_node.get("class_type")})
        ref = _node_ref(module, node, node_list)
        declared = {m.name: m for m in node_models(node)}
        for name, value in api_node.get("inputs", {}).items():
            if isinstance(value, list):
                continue  # a link, checked with the graph
            spec = node_list.input_spec(api_node["class_type"], name)
            if spec is None:
                continue
            kind, options = spec
            if not fits(value, kind, options):
                found.append(
                    Finding(
                        "lint-bad-value",
                        {**ref, "input": name, "value": repr(value), "expected": expected(kind, options) or str(kind)},
                    )
                )
            elif options.get("files") and isinstance(value, str):
                if UPLOAD_FLAGS & options.keys():
                    if not (module.folder / "inputs" / value).is_file():
                        found.append(Finding("lint-input-file", {**ref, "name": value}, warning=module.plain))
                    continue
                model = declared.get(value)
                if model is None:  # a plain workflow runs with what the store has; a lesson must say where from
                    found.append(Finding("lint-undeclared-model", {**ref, "model": value}, warning=module.plain))
                    continue
                if module.plain:
                    continue  # where it comes from is a lesson's business (new-module --from-workflow)
                for field, given in (("url", model.url), ("directory", model.directory)):
                    if not given:
                        found.append(Finding("lint-model-field", {**ref, "model": value, "field": field}))
                if not model.hash:
                    found.append(Finding("lint-model-hash", {**ref, "model": value}, warning=True))
                if value not in declared_licences:
                    found.append(Finding("lint-model-licence", {"file": module.meta_path, "model": value}))
    return found


# --- knobs -------------------------------------------------------------------------


def check_knobs(module: Module, node_list: NodeList) -> list[Finding]:
    found: list[Finding] = []
    for knob in module.about.knobs:
        if not knob.node or not knob.input:
            continue  # reported with module.yaml's fields
        label = f"{knob.node}.{knob.input}"
        matches = module.node_by_title(knob.node)
        problem = None
        if not matches:
            problem = f"names node '{knob.node}', but no node has that title"
        elif len(matches) > 1:
            problem = f"names node '{knob.node}', but {len(matches)} nodes have that title"
        elif node_list.input_spec(matches[0].get("type"), knob.input) is None:
            problem = f"names input {knob.input}, but a {matches[0].get('type')} node has no such input"
        if problem:
            found.append(Finding("lint-knob", {"file": module.meta_path, "knob": label, "problem": problem}))
    return found


# --- custom nodes ------------------------------------------------------------------


def same_repository(one: str, other: str) -> bool:
    """Two ways of writing one repository's address (with or without .git or a last slash)."""

    def plain(url: str) -> str:
        return url.strip().rstrip("/").removesuffix(".git").lower()

    return bool(one) and plain(one) == plain(other)


def check_custom_nodes(module: Module, node_list: NodeList, pinned_nodes: list[CustomNode] | None) -> list[Finding]:
    """Each custom node the workflow needs is named in module.yaml with its licence, and (given the pin)
    pinned at the commit the node list was made from."""
    found: list[Finding] = []
    needed: dict[str, list[str]] = {}
    sources = {}
    for node in module.nodes():
        source = node_list.source_of(str(node.get("type")))
        if source is not None:
            sources[source.folder] = source
            needed.setdefault(source.folder, []).append(str(node.get("type")))
    for folder, types in sorted(needed.items()):
        source = sources[folder]
        declared = [
            c for c in module.about.custom_nodes if c.name == folder or same_repository(c.repository, source.repository)
        ]
        if not any(c.licence for c in declared):
            found.append(
                Finding(
                    "lint-custom-node-licence",
                    {"file": module.meta_path, "name": folder, "nodes": ", ".join(sorted(set(types)))},
                )
            )
        if pinned_nodes is None:
            continue
        pin = next((p for p in pinned_nodes if same_repository(p.repository, source.repository)), None)
        if pin is None or pin.commit != source.commit:
            found.append(
                Finding(
                    "lint-custom-node-pin",
                    {
                        "file": module.workflow_path,
                        "name": folder,
                        "commit": source.commit or "an unknown commit",
                        "pinned": f"pins {pin.commit}" if pin else "does not pin it",
                    },
                )
            )
    return found
