"""The message catalogue: complete both ways, plain, and exact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atelier.messages import MESSAGES, AtelierError

PACKAGE = Path(__file__).resolve().parents[2] / "scripts" / "atelier"
RAISED = re.compile(r"""(?:AtelierError|Finding|Fields)\(\s*["']([a-z0-9-]+)["']""")  # Fields: a file's typed fields


def raised_codes() -> set[str]:
    return {code for path in PACKAGE.rglob("*.py") for code in RAISED.findall(path.read_text())}


def test_every_raised_code_is_registered() -> None:
    assert raised_codes() - MESSAGES.keys() == set()


def test_every_registered_code_is_raised() -> None:
    assert MESSAGES.keys() - raised_codes() == set()


@pytest.mark.parametrize("message", MESSAGES.values(), ids=MESSAGES.keys())
def test_message_is_plain(message) -> None:
    for text in (message.text, message.hint):
        assert text[0].isupper() or text.startswith("{"), text
        assert text.endswith("."), text
        assert "Traceback" not in text and "Exception" not in text
    assert message.reader in {"student", "instructor", "maintainer"}
    assert message.exit_code in {1, 2}


F = "workflows/demo/workflow.json"
NODE = {"file": F, "node": 5, "title": "KSampler"}
EXACT = {
    "lock-missing": (
        {"file": "workflows/lock.yaml"},
        "The semester pin workflows/lock.yaml was not found. "
        "Check the path given with --lock; without it, atelier reads the project's workflows/lock.yaml.",
    ),
    "yaml-malformed": (
        {"file": "lock.yaml", "line": 3, "problem": "found a tab"},
        "lock.yaml is not valid YAML (line 3: found a tab). Fix that line (YAML needs consistent "
        "spaces, and quotes around text that holds a colon).",
    ),
    "lock-field": (
        {"file": "lock.yaml", "field": "semester", "problem": "is missing"},
        "lock.yaml: 'semester' is missing. "
        "Fix that field; the Runbook page 'The semester pin' shows a complete example.",
    ),
    "server-unreachable": (
        {"url": "http://127.0.0.1:8188"},
        "ComfyUI at http://127.0.0.1:8188 is not answering. Check in the dashboard (My Interactive "
        "Sessions) that your session is still running, then try again.",
    ),
    "comfyui-missing": (
        {"path": "/opt/comfyui"},
        "No ComfyUI was found at /opt/comfyui. Set COMFYUI_DIR to a ComfyUI checkout, or install the "
        "pinned one with 'atelier install'.",
    ),
    "server-start-failed": (
        {"reason": "it exited with code 1", "log": "/tmp/w/comfyui.log"},
        "ComfyUI did not start: it exited with code 1. Its log is /tmp/w/comfyui.log; the last lines usually say why.",
    ),
    "gate-refused": (
        {"url": "http://127.0.0.1:8188"},
        "The ComfyUI at http://127.0.0.1:8188 refused the session key. Open ComfyUI again with the "
        "Open ComfyUI button on your session's card in My Interactive Sessions. From a notebook or a "
        "command, pass the session's connection file with --key-file.",
    ),
    "gate-missing": (
        {"extensions": "/opt/atelier/comfy_extensions"},
        "ComfyUI answered without its login gate, so it was stopped. Check that "
        "/opt/atelier/comfy_extensions is readable and listed in the extra model paths config; see the "
        "Runbook's gate page.",
    ),
    "catalogue-missing": (
        {"file": "workflows/catalogue/object_info.json"},
        "The node catalogue workflows/catalogue/object_info.json was not found. A maintainer makes "
        "it with 'atelier catalogue' against the pinned ComfyUI, then commits it.",
    ),
    "catalogue-no-audio": (
        {"url": "http://127.0.0.1:8188", "nodes": "LoadAudio, SaveAudio"},
        "The ComfyUI at http://127.0.0.1:8188 has no audio nodes (LoadAudio, SaveAudio), so its "
        "catalogue would be incomplete. Install torchaudio in that ComfyUI's Python environment, "
        "restart it and run 'atelier catalogue' again.",
    ),
    "lint-no-modules": (
        {"path": "docs"},
        "docs holds no lesson module (a folder with workflow.json and module.yaml) and is no workflow "
        "file. Give the path of a module folder, of the folder that holds them (workflows/), or of a "
        "workflow .json file.",
    ),
    "lint-subgraph": (
        {**NODE, "title": "Grow and Blur Mask"},
        "workflows/demo/workflow.json: node 5 'Grow and Blur Mask' is a subgraph (several nodes folded "
        "into one), which Atelier cannot run yet. On the ComfyUI canvas, right-click it and choose "
        "Unpack Subgraph, then export the workflow again.",
    ),
    "new-module-no-output": (
        {"file": "portrait.json", "saves": "SaveImage, SaveGLB"},
        "portrait.json saves nothing, so a lesson made from it would leave students with nothing "
        "to keep. Add a box that saves what it makes (SaveImage, SaveGLB) on the ComfyUI canvas, "
        "then export it again.",
    ),
    "workflow-not-canvas": (
        {"file": "prompt.json"},
        "prompt.json is not a workflow as ComfyUI's canvas saves it (it has no list of nodes). In "
        "ComfyUI, open it and use Workflow > Export (not Export (API)), then give that file.",
    ),
    "run-workflow-refused": (
        {"file": "portrait.json", "errors": 2},
        "portrait.json cannot run on the pinned ComfyUI (problems found: 2, each listed above with "
        "its node and field). Fix them on the ComfyUI canvas and export the workflow again; nothing "
        "was run.",
    ),
    "module-file-missing": (
        {"folder": "workflows/demo", "name": "module.yaml"},
        "workflows/demo has no module.yaml. A module folder holds workflow.json and module.yaml; "
        "'atelier new-module' makes both.",
    ),
    "json-malformed": (
        {"file": F, "line": 2, "column": 5, "problem": "Expecting value"},
        f"{F} is not valid JSON (line 2, column 5: Expecting value). Export the workflow again from "
        "ComfyUI (Workflow menu, Export), or fix that spot.",
    ),
    "lint-module-field": (
        {"file": "module.yaml", "field": "objectives", "problem": "is missing"},
        "module.yaml: 'objectives' is missing. Every field is explained in the module.yaml that "
        "'atelier new-module' writes.",
    ),
    "lint-prerequisite": (
        {"file": "module.yaml", "module": "colour", "folder": "workflows"},
        "module.yaml: prerequisite 'colour' is not a module in workflows. Use the folder name of "
        "another module, or remove it.",
    ),
    "lint-unknown-node": (
        {**NODE, "type": "FancySampler", "version": "0.3.64"},
        f"{F}: node 5 'KSampler' is of type FancySampler, which ComfyUI 0.3.64 does not have. Use one of "
        "ComfyUI's own nodes, or pin the custom node that provides it in workflows/lock.yaml.",
    ),
    "lint-online-node": (
        {**NODE, "type": "OpenAIDalle3"},
        f"{F}: node 5 'KSampler' is of type OpenAIDalle3, which sends the work to an outside paid service. "
        "Atelier keeps all work inside the university: replace it with a node that runs on the cluster.",
    ),
    "lint-bad-value": (
        {**NODE, "input": "cfg", "value": "150", "expected": "a number from 0.0 to 100.0"},
        f"{F}: node 5 'KSampler': cfg is 150, expected a number from 0.0 to 100.0. Change the value on "
        "the ComfyUI canvas and export the workflow again.",
    ),
    "lint-unconnected": (
        {**NODE, "input": "model"},
        f"{F}: node 5 'KSampler': required input model is not connected. Connect it on the ComfyUI "
        "canvas and export the workflow again.",
    ),
    "lint-dangling-link": (
        {"file": F, "link": 9, "problem": "comes to node 99, which is not in the workflow"},
        f"{F}: link 9 comes to node 99, which is not in the workflow. Reconnect the nodes on the "
        "ComfyUI canvas and export the workflow again.",
    ),
    "lint-link-type": (
        {
            **NODE,
            "link": 3,
            "input": "model",
            "input_type": "MODEL",
            "source": 1,
            "source_title": "Load Checkpoint",
            "source_type": "CLIP",
        },
        f"{F}: link 3 joins CLIP from node 1 'Load Checkpoint' to input model of node 5 'KSampler', "
        "which takes MODEL. Connect an output of the type that input takes.",
    ),
    "lint-undeclared-model": (
        {**NODE, "model": "x.safetensors"},
        f"{F}: node 5 'KSampler' loads x.safetensors, which its properties.models does not "
        "declare. Add the model's name, url and directory there, as ComfyUI's own templates do.",
    ),
    "lint-model-field": (
        {**NODE, "model": "x.safetensors", "field": "url"},
        f"{F}: node 5 'KSampler': model x.safetensors has no url. Add it to that model's entry in the "
        "node's properties.models.",
    ),
    "lint-model-hash": (
        {**NODE, "model": "x.safetensors"},
        f"{F}: node 5 'KSampler': model x.safetensors has no sha256 from its publisher. Add hash and "
        "hash_type: sha256 if the publisher states one; until then a download cannot be verified.",
    ),
    "lint-model-licence": (
        {"file": "module.yaml", "model": "x.safetensors"},
        "module.yaml: model x.safetensors has no licence. Add it under models in module.yaml, with "
        "the licence's name and a link to its text.",
    ),
    "lint-input-file": (
        {**NODE, "name": "cat.png"},
        f"{F}: node 5 'KSampler' loads cat.png, which is not in the module's inputs/ folder. Put the "
        "file in the module's inputs/ folder, so students get it with the lesson.",
    ),
    "lint-knob": (
        {
            "file": "module.yaml",
            "knob": "KSampler.colour",
            "problem": "names input colour, but a KSampler node has no such input",
        },
        "module.yaml: knob 'KSampler.colour' names input colour, but a KSampler node has no such input. A "
        "knob names a node by its title on the canvas and one of that node's inputs.",
    ),
    "workflow-convert": (
        {"file": F, "problem": "nodes is not a list"},
        f"{F}: ComfyUI's workflow converter could not read it (nodes is not a list). Open it in "
        "ComfyUI and export it again (Workflow menu, Export).",
    ),
    "lint-catalogue-version": (
        {"catalogue": "0.3.60", "pinned": "0.3.64"},
        "The node catalogue is from ComfyUI 0.3.60, but the semester pin is 0.3.64. Run 'atelier "
        "catalogue' against the pinned ComfyUI, then lint again.",
    ),
    "cluster-unknown": (
        {"cluster": "orion", "known": "cerberus, local, pegasus"},
        "There is no cluster profile named 'orion'. Use one of: cerberus, local, pegasus; or give the "
        "path of a profile file.",
    ),
    "cluster-field": (
        {"file": "clusters/pegasus.yaml", "field": "gpus.a100.partition", "problem": "is missing"},
        "clusters/pegasus.yaml: 'gpus.a100.partition' is missing. Fix that field; the Runbook page "
        "'Cluster profiles' explains each one.",
    ),
    "cluster-gpu-unknown": (
        {"cluster": "pegasus", "gpu": "h100", "choices": "v100, a100, l40s"},
        "The pegasus cluster has no GPU choice 'h100'. Choose one of: v100, a100, l40s.",
    ),
    "cluster-hours": (
        {"cluster": "pegasus", "most": 24, "hours": 48},
        "A session on pegasus can last at most 24 hours, so 48 hours can't be booked. Ask for 24 hours "
        "or fewer; you can start a new session when this one ends.",
    ),
    "slurm-missing": (
        {"command": "sbatch"},
        "The Slurm command 'sbatch' was not found on this computer. Run this on one of the cluster's "
        "login nodes, where Slurm is installed.",
    ),
    "slurm-refused": (
        {"command": "sbatch", "reason": "invalid partition specified: gpu"},
        "Slurm refused the request (sbatch: invalid partition specified: gpu). Check the cluster, GPU "
        "and hours you chose; if it repeats, send this line to your course's support contact.",
    ),
    "session-ended": (
        {"job": "42", "last": "No ComfyUI was found at /x.", "log": "/home/a/s/job.log"},
        "The ComfyUI session (job 42) ended before ComfyUI was ready (the log's last line: No "
        "ComfyUI was found at /x.). Read the whole log in /home/a/s/job.log, then start a new session.",
    ),
    "session-slow": (
        {"job": "42", "state": "pending", "seconds": 600, "reason": "Resources"},
        "The ComfyUI session (job 42) was still pending after 600 s (Slurm's reason: Resources). It is "
        "still queued and will start on its own: check on it with 'atelier status', or end it with "
        "'atelier stop 42'.",
    ),
    "session-unknown": (
        {"job": "42"},
        "There is no ComfyUI session of yours with job number 42. Run 'atelier status' to list your "
        "sessions and their job numbers.",
    ),
    "gate-key-short": (
        {"file": "/s/gate/token"},
        "The session key in /s/gate/token is too short to be safe. Make a key of at least 22 random "
        "letters and digits (the Open OnDemand app's before.sh makes 43).",
    ),
    "new-module-slug": (
        {"slug": "My Lesson"},
        "The name 'My Lesson' can't be used for a module. Use lower-case letters, digits and single dashes, like "
        "'charcoal-portraits'.",
    ),
    "new-module-exists": (
        {"folder": "workflows/img2img"},
        "workflows/img2img already exists. Choose another name, or edit that module instead.",
    ),
    "new-module-source": (
        {"source": "nope", "folder": "workflows"},
        "There is no module 'nope' in workflows to start from. Give the folder name of an existing "
        "module with --from, e.g. --from txt2img-basics.",
    ),
    "new-module-choice": (
        {
            "modality": "sculpture",
            "level": "first-year",
            "modalities": "image, audio, video, 3d",
            "levels": "first-year, intermediate, advanced",
        },
        "Kind 'sculpture' or level 'first-year' is not one Atelier knows. Kinds: image, audio, video, "
        "3d. Levels: first-year, intermediate, advanced.",
    ),
    "workflow-missing": (
        {"path": "workflows/nope"},
        "workflows/nope is not a lesson module or a workflow file. Give a module folder such as "
        "workflows/txt2img-basics, or a workflow .json file.",
    ),
    "knob-format": (
        {"setting": "seed"},
        "Setting 'seed' is not written as box.setting=value. Write the box's title, a dot, the setting, "
        'an equals sign and the value: "KSampler.seed=4".',
    ),
    "knob-unknown": (
        {"setting": "Painter.seed=3", "title": "Painter", "input": "seed"},
        "Setting 'Painter.seed=3': the workflow has no box titled 'Painter' with a setting seed. Use the box's "
        "title as it shows on the canvas; the lesson page lists its knobs.",
    ),
    "knob-value": (
        {"setting": "KSampler.cfg=150", "input": "cfg", "expected": "a number from 0.0 to 100.0"},
        "Setting 'KSampler.cfg=150' is not allowed: cfg takes a number from 0.0 to 100.0. Choose a value in that "
        "range, or one of those choices.",
    ),
    "workflow-rejected": (
        {"node": 5, "title": "KSampler", "detail": "steps: value smaller than min"},
        "ComfyUI refused node 5 'KSampler': steps: value smaller than min. Check that box's "
        "settings on the canvas; the lesson page lists the allowed values.",
    ),
    "out-of-memory": (
        {"node": 5, "title": "KSampler"},
        "The GPU ran out of memory in node 5 'KSampler'. Make the picture smaller or the batch size 1, "
        "or start a session with a bigger GPU.",
    ),
    "run-failed": (
        {"node": 6, "title": "VAE Decode", "detail": "it was interrupted"},
        "The run stopped in node 6 'VAE Decode': it was interrupted. Check that box's settings; if it "
        "happens again, send this message to your instructor.",
    ),
    "folder-full": (
        {"node": 7, "title": "Save Image"},
        "Your outputs folder is full: the picture from node 7 'Save Image' could not be saved. Delete "
        "old pictures in the dashboard's Files app (download the ones you want to keep first), then "
        "run again.",
    ),
    "folder-low": (
        {"free": "120 MB", "folder": "/home/ana/atelier-outputs"},
        "Only 120 MB is left in /home/ana/atelier-outputs, where this session keeps your pictures and "
        "saved workflows. Make room before it is full: delete old pictures in the dashboard's Files app "
        "(download the ones you want to keep first).",
    ),
    "server-died": (
        {},
        "ComfyUI stopped while it was running the workflow. Finished files are safe in your output "
        "folder; start a new session from the dashboard and run it again.",
    ),
    "run-timeout": (
        {"seconds": "600"},
        "The workflow did not finish within 600 seconds. Lower the steps or the picture size, or allow "
        "more time with --timeout.",
    ),
    "testmodels-failed": (
        {"reason": "No module named 'torch'"},
        "Making the test models failed: No module named 'torch'. Check that COMFYUI_PYTHON is the "
        "Python of the ComfyUI checkout (it needs torch and safetensors).",
    ),
    "bench-workload-unknown": (
        {"name": "sd3", "known": "sd15-512, sdxl-1024"},
        "There is no benchmark workload called sd3. Choose from: sd15-512, sdxl-1024.",
    ),
    "bench-results-bad": (
        {"file": "docs/benchmarks/x.json", "detail": "runs[0] has no device"},
        "docs/benchmarks/x.json cannot be read as benchmark figures: runs[0] has no device. Write "
        "it again with atelier bench --json, or correct it or take it out of docs/benchmarks/.",
    ),
    "comfyui-options-clash": (
        {"first": "--lowvram", "second": "--cpu", "where": "--comfyui-option"},
        "--lowvram and --cpu cannot be given together (--comfyui-option). ComfyUI takes one "
        "option of each kind: keep one of them.",
    ),
    "comfyui-option-refused": (
        {"option": "--listen", "where": "--comfyui-option", "allowed": "--fast, --bf16-unet"},
        "--listen is not a ComfyUI option Atelier passes on (--comfyui-option). Use one of: --fast, --bf16-unet.",
    ),
    "screenshots-no-browser": (
        {"what": "Chromium at /usr/bin/chromium (apt-get install chromium)"},
        "Taking screenshots needs Chromium at /usr/bin/chromium (apt-get install chromium), "
        "which is not here. Install it, or run ./dev test once as root, which installs "
        "everything the tests use.",
    ),
    "screenshots-failed": (
        {
            "step": "the lesson lora",
            "reason": "Timeout 60000ms exceeded",
            "picture": "/tmp/s/failure.png",
            "log": "/tmp/s/comfyui.log",
        },
        "Taking the screenshots stopped at the lesson lora: Timeout 60000ms exceeded. The page "
        "as it was is in /tmp/s/failure.png and ComfyUI's log in /tmp/s/comfyui.log; if the "
        "frontend changed, update the selectors in scripts/atelier/site/screenshots.py.",
    ),
    "screenshots-external": (
        {"url": "https://huggingface.co/x.safetensors", "count": 1},
        "ComfyUI's page asked for https://huggingface.co/x.safetensors (requests to other "
        "hosts: 1), which were refused. Nothing was saved. Find the frontend setting or feature "
        "that fetches it and turn it off in scripts/atelier/site/screenshots.py (SETTINGS) before "
        "taking the screenshots again.",
    ),
    "check-failed": (
        {"failed": 2, "total": 12},
        "2 of 12 lesson modules failed the check. Each failure is listed above with its reason; the "
        "report has the details.",
    ),
    "models-no-space": (
        {"store": "/scratch/models", "free": "1.2", "needed": "6.9"},
        "The model store /scratch/models has 1.2 GB free, but the downloads need 6.9 GB. Free some "
        "space or choose a store on a larger file system with --store; nothing was downloaded.",
    ),
    "models-verify-changed": (
        {
            "file": "/m/vae/x.safetensors",
            "expected": "ab12",
            "got": "cd34",
            "moved": "/m/.changed/2026-12-01_20-00-00/vae/x.safetensors",
        },
        "/m/vae/x.safetensors does not match its published sha256 (expected ab12, got cd34). It "
        "was moved to /m/.changed/2026-12-01_20-00-00/vae/x.safetensors, where ComfyUI does not "
        "look; run 'atelier models fetch --all' to download it again.",
    ),
    "models-verify-missing": (
        {"file": "/m/vae/x.safetensors"},
        "/m/vae/x.safetensors is not in the store. Run 'atelier models fetch --all' to download it.",
    ),
    "models-verify-failed": (
        {"bad": 2, "total": 9, "store": "/m"},
        "2 of 9 model files in /m are missing or changed. Each is listed above; run 'atelier "
        "models fetch --all', then 'atelier models verify' again.",
    ),
    "models-hash-mismatch": (
        {"name": "x.safetensors", "expected": "ab12", "got": "cd34"},
        "x.safetensors did not match its published sha256: expected ab12, got cd34. The partial "
        "file was removed; run the command again, and if it repeats, check the URL in the "
        "workflow.",
    ),
    "install-git-missing": (
        {},
        "The git command was not found on this computer, and installing ComfyUI needs it. Make git "
        "available (on a cluster often 'module load git'), then run 'atelier install' again.",
    ),
    "install-project-missing": (
        {"path": "/home/me"},
        "The Atelier project folder (with pyproject.toml) was not found at /home/me. Run "
        "'atelier install' from the folder you cloned Atelier into.",
    ),
    "install-prefix": (
        {"prefix": "/groups/atelier/2026-fall", "reason": "Permission denied"},
        "The install folder /groups/atelier/2026-fall cannot be written to (Permission denied). Choose "
        "a folder you can write to with --prefix, on group space rather than scratch (scratch files "
        "are deleted after 30 days).",
    ),
    "install-step-failed": (
        {"step": "Get ComfyUI", "status": 128, "log": "/p/install-logs/02-comfyui.log"},
        "The install step 'Get ComfyUI' failed with exit code 128. Its log "
        "/p/install-logs/02-comfyui.log says why; fix that, then run 'atelier install' again: "
        "finished steps are skipped.",
    ),
    "unexpected": (
        {"error": "KeyError"},
        "Something went wrong inside atelier (KeyError). Run the same command again with "
        "--debug and send what it prints to your course's support contact.",
    ),
    "ledger-folder-missing": (
        {"folder": "outputs"},
        "There is no folder outputs. Give the folder your outputs are "
        "saved in (the session's 'Save pictures in' folder).",
    ),
    "ledger-unreadable": (
        {"file": "o/atelier-ledger.sqlite", "problem": "file is not a database"},
        "The ledger o/atelier-ledger.sqlite cannot be read (file is not a database). Move that file "
        "aside and scan again: the ledger is rebuilt from the outputs themselves, but which files "
        "were backed up when is only in the old one.",
    ),
    "compare-nothing": (
        {"paths": "notes.txt"},
        "There is nothing to compare in notes.txt: no output there holds "
        "ComfyUI's settings. Give the folder ComfyUI saved into, or pictures, videos or sounds that "
        "ComfyUI made.",
    ),
    "compare-knob-unknown": (
        {"knob": "denoyse", "choices": "Seed, CFG"},
        "No setting called 'denoyse' is in these outputs. Settings that differ between them: Seed, CFG.",
    ),
    "compare-same-knob": (
        {"knob": "CFG"},
        "The options --by and --vs both name CFG. Give two different settings, one for across "
        "the sheet and one for down.",
    ),
    # class wall
    "compare-what": (
        {},
        "Give atelier compare either outputs (files or folders) or --class and a course folder, not "
        "both. For your own work: atelier compare ~/atelier-outputs. For a class: atelier compare "
        "--class ~/crit.",
    ),
    "class-folder-missing": (
        {"folder": "~/crit"},
        "There is no course folder ~/crit. Give the folder that holds one "
        "folder (or Box zip) per student; the Teach page 'Reviewing student work' says how to "
        "collect them.",
    ),
    "class-no-students": (
        {"folder": "~/crit"},
        "~/crit holds no student folders. A class wall needs one folder (or "
        "Box zip) per student inside it, named after the student, such as ana and ben.",
    ),
    "class-student-empty": (
        {"student": "dara", "folder": "~/crit/dara", "found": "the folder holds no files"},
        "dara has nothing to show (~/crit/dara): the folder holds no files. They are listed on the "
        "wall with an empty row. Ask them to share their Atelier/outputs folder again (a picture "
        "opened and saved in another program loses its settings).",
    ),
    "class-vs": (
        {},
        "With --class, the rows are the students, so --vs has nothing to set. Leave out --vs; --by names "
        "the setting that splits each lesson into columns.",
    ),
    "classwall-folder-blank": (
        {},
        "No course folder was given, so there is no wall to build. Pick a course folder "
        "from the list, or type the path of the folder that holds one folder (or Box zip) per "
        "student, then press Build the class wall.",
    ),
    "classwall-folder-outside": (
        {"folder": "/etc", "roots": "your home folder or /groups/courses"},
        "The folder /etc "
        "is not in your home folder or /groups/courses, where the Class wall app opens course "
        "folders. Pick a course folder inside one of them; to add the place of a group "
        "folder, ask research computing (Runbook: Accounts and course folders for a class).",
    ),
    "classwall-file-refused": (
        {"path": "/etc/passwd"},
        "The Class wall app shows only the files of a wall you built "
        "and the pictures of its course folder, so /etc/passwd was refused. Open the wall from "
        "the app's first page and follow its links.",
    ),
    "classwall-page-unknown": (
        {"path": "/pun/sys/classwall/admin"},
        "The Class wall app has no page at "
        "/pun/sys/classwall/admin. Open Class wall from the dashboard's menu, and start from "
        "its first page.",
    ),
    "classwall-page-elsewhere": (
        {},
        "That button was pressed on another website, so the Class wall app did nothing. "
        "Open Class wall from the dashboard's menu and press the button there.",
    ),
    "classwall-page-failed": (
        {"error": "KeyError"},
        "The Class wall app stopped on a problem of its own (KeyError). "
        "Reload the page; if it happens again, send this sentence to your course's support "
        "contact.",
    ),
    "compare-none-picked": (
        {},
        "No outputs were picked, so there is nothing to compare. Tick the outputs you want "
        "side by side, or say how many of the newest to compare, then press the button again.",
    ),
    "compare-outside": (
        {"path": "../notes/diary.png", "folder": "/home/ana/atelier-outputs"},
        "../notes/diary.png is not in your outputs folder, so it was not compared. Pick outputs from "
        "the list on the Compare page: only files inside /home/ana/atelier-outputs can be compared "
        "there.",
    ),
    "compare-failed": (
        {},
        "The comparison could not be made: the program that makes it stopped without saying why. "
        "Reload the Compare page and try again; if it happens again, tell your course's support "
        "contact which outputs you picked.",
    ),
    "user-folder-locked": (
        {"lock": "/home/ana/atelier-comfyui/.sync-lock"},
        "Your saved workflows could not be "
        "brought up to date: another session has held /home/ana/atelier-comfyui/.sync-lock for a "
        "while. Nothing is lost: this session keeps your work and tries again in a few seconds. "
        "If it keeps happening, end your other sessions.",
    ),
    "user-folder-unwritable": (
        {"folder": "/home/ana/atelier-comfyui", "detail": "Disk quota exceeded"},
        "Your saved workflows could not be written to your ComfyUI folder "
        "/home/ana/atelier-comfyui (Disk quota exceeded). Nothing is lost: this session keeps "
        "its own copy and tries again in a few seconds. If your home folder is full, make room "
        "in it (the dashboard's Files shows what takes the space).",
    ),
    "backup-target-format": (
        {"target": "Atelier"},
        "The backup place 'Atelier' is not written as "
        "REMOTE:FOLDER. Write the remote's name, a colon and a folder, for example box:Atelier.",
    ),
    "backup-no-rclone": (
        {},
        "The program that copies outputs to Box (rclone) is not installed here. Ask your course's support "
        "contact: 'atelier install' puts it beside atelier.",
    ),
    "backup-remote-unknown": (
        {"remote": "box"},
        "Box is not connected yet: there is no rclone remote called 'box'. "
        "Connect it once in the dashboard: open Files, then Box backup, and press Connect (Start here: "
        "Keep your work safe).",
    ),
    "backup-denied": (
        {"remote": "box"},
        "The backup was refused: the sign-in kept for 'box' has expired or was "
        "withdrawn. Open the dashboard's Box app and press Connect again (a Box sign-in lapses after "
        "60 days without a backup); nothing already backed up is lost.",
    ),
    "backup-unreachable": (
        {"remote": "box"},
        "The backup could not reach 'box' from here. Your outputs are safe in "
        "their folder and the next backup tries again; if it keeps failing, tell your course's "
        "support contact.",
    ),
    "backup-failed": (
        {"remote": "box", "detail": "quota exceeded"},
        "The backup to 'box' stopped: quota exceeded. "
        "Nothing is lost: the next backup (a few minutes later, or as the session ends) carries on "
        "where this one stopped.",
    ),
    "ood-portal-missing": (
        {"file": "/etc/ood/config/ood_portal.yml"},
        "The portal settings "
        "/etc/ood/config/ood_portal.yml were not found. Pass the ood_portal.yml the site's Apache is "
        "made from (usually /etc/ood/config/ood_portal.yml).",
    ),
    "ood-portal-encoded-slashes": (
        {"file": "ood_portal.yml"},
        "ood_portal.yml lets no encoded slash through: Apache "
        "itself answers 404 when ComfyUI's Workflows panel opens or saves a workflow (its "
        "addresses hold %2F), so students cannot open their lesson. Add 'AllowEncodedSlashes "
        "NoDecode' to custom_vhost_directives, run update_ood_portal and restart Apache.",
    ),
    "ood-portal-rnode": (
        {"file": "ood_portal.yml"},
        "ood_portal.yml sets no rnode_uri, so the dashboard does not proxy "
        "/rnode/, where the session card's Open ComfyUI button leads. Set rnode_uri: '/rnode' (and "
        "node_uri: '/node'), run update_ood_portal and restart Apache.",
    ),
    "ood-portal-host-regex": (
        {"file": "ood_portal.yml", "value": "'[^/]+'", "reach": "any host at all"},
        "ood_portal.yml: host_regex is '[^/]+', so the dashboard's proxy reaches any host at all: "
        "a page another user serves there runs in the dashboard's origin with every student's "
        "cookies. Set host_regex to a pattern that matches only the compute nodes' names, run "
        "update_ood_portal and restart Apache.",
    ),
    "project-missing": (
        {"where": "/home/ada"},
        "No Atelier project was found at /home/ada: a project is the folder "
        "that holds workflows/lock.yaml. Run atelier from the project's folder, or source the "
        "semester's atelier.env, which names it in ATELIER_PROJECT.",
    ),
    "backup-token-bad": (
        {},
        "What was pasted is not the sign-in text rclone prints. Copy the whole block between "
        "---> and <--- that 'rclone authorize' printed, and paste it again.",
    ),
    "box-signin-denied": (
        {"title": "Box"},
        "Box was not connected: on Box's page, Deny was chosen. Nothing was "
        "changed. To connect it, press Connect Box again and choose Grant access to Box.",
    ),
    "box-signin-stale": (
        {"title": "Box"},
        "This Box sign-in was not started on this page, or was started more than "
        "10 minutes ago, so it was not used. Nothing was changed. Open the dashboard's Box app and "
        "press Connect Box again.",
    ),
    "box-token-refused": (
        {"title": "Box", "detail": "Auth code doesn't exist or is invalid for the client"},
        "Box did not finish the sign-in: it answered 'Auth code doesn't exist or is invalid for the "
        "client'. Nothing was changed. Press Connect Box again; if the same happens, send this "
        "sentence to your course's support contact.",
    ),
    "box-unreachable": (
        {"title": "Box"},
        "Box could not be reached to finish the sign-in. Nothing was changed. Try "
        "Connect Box again in a few minutes; if it keeps failing, tell your course's support contact.",
    ),
    "box-app-unset": (
        {"title": "Box"},
        "Connecting Box from the dashboard is not set up yet on this cluster. Tell "
        "your course's support contact: the cluster profile needs the university's Box app (Runbook: "
        "Backups). Your outputs stay safe in their folder meanwhile.",
    ),
    "box-page-unknown": (
        {"title": "Box", "path": "/pun/sys/box/admin"},
        "The Box app has no page at "
        "/pun/sys/box/admin. Open the dashboard's Box app from its menu, and start from its first "
        "page.",
    ),
    "box-page-elsewhere": (
        {"title": "Box"},
        "That button was pressed on another website, so the Box app did nothing. "
        "Open the dashboard's Box app from its menu and press the button there.",
    ),
    "box-page-failed": (
        {"title": "Box", "error": "KeyError"},
        "The Box app stopped on a problem of its own "
        "(KeyError). Reload the page; if it happens again, send this sentence to your course's "
        "support contact.",
    ),
    "box-profiles-disagree": (
        {"clusters": "pegasus, cerberus", "detail": "backup folder"},
        "The clusters pegasus, "
        "cerberus keep their backups in different places (backup folder), but the dashboard's "
        "Box app connects one for every cluster. Give those profiles the same backup: section, "
        "then run 'atelier ood deploy' again.",
    ),
    "ood-box-unset": (
        {"profile": "pegasus", "missing": "backup.client_id"},
        "The Box app was deployed, but the "
        "profile pegasus names no backup.client_id, so no student can connect with it yet. Register the "
        "university's Box app and fill in the profile as the Runbook's Backups page says, then deploy "
        "again; until then students connect with 'atelier backup setup'.",
    ),
    # sweeps
    "sweep-values": (
        {"setting": "KSampler.cfg", "values": "2..a"},
        'The values \'2..a\' for KSampler.cfg are not a list or a range. Write a list as 2,4,7, a range as 1..4 or 2..8:2 (every 2), or text with commas as a list in brackets: ["a, b", "c"].',
    ),
    "sweep-no-tries": (
        {"setting": "KSampler.denoise", "lesson": "txt2img-basics"},
        'KSampler.denoise has no values to try in txt2img-basics. Give the values yourself, e.g. --vary "KSampler.denoise=1,2,3"; the lesson page lists the knobs that have some.',
    ),
    "sweep-axis-twice": (
        {"setting": "KSampler.cfg"},
        "KSampler.cfg is varied twice. Give each setting one --vary, with all its values.",
    ),
    "sweep-too-big": (
        {"cells": 20000, "most": 10000},
        "The grid has 20000 pictures; a sweep makes at most 10000. Vary fewer settings, or give each fewer values.",
    ),
    "sweep-missing": (
        {"folder": "/home/ana/atelier-sweeps/x"},
        "/home/ana/atelier-sweeps/x holds no sweep (there is no sweep.json in it). Give the folder that 'atelier sweep' named when it started, or start one with a lesson and --vary.",
    ),
    "sweep-plan-damaged": (
        {"file": "/home/ana/s/sweep.json", "problem": "'cells'"},
        "The sweep's plan /home/ana/s/sweep.json cannot be read ('cells'). Start the sweep again in a new folder; the pictures already made in this one stay where they are.",
    ),
    "sweep-other-grid": (
        {"folder": "/home/ana/s"},
        "/home/ana/s holds another sweep (another lesson, grid or fixed settings). Run it again with the same lesson and --vary/--set, or start this one in a new folder with --out.",
    ),
    "sweep-folder-taken": (
        {"folder": "/home/ana/Pictures"},
        "/home/ana/Pictures already holds other files, so a sweep is not started there. Choose an empty or new folder with --out.",
    ),
    "sweep-task-unknown": (
        {"round": 2, "task": 5},
        "This sweep has no task 5 in round 2. Run 'atelier sweep --out FOLDER' to follow the sweep; tasks are started by it, not by hand.",
    ),
    "sweep-not-running": (
        {"folder": "/home/ana/s"},
        "The sweep in /home/ana/s has no tasks running or waiting. Nothing to cancel. Run 'atelier sweep --out /home/ana/s' to make what is left.",
    ),
    "sweep-incomplete": (
        {"left": 2, "cells": 4, "logs": "/home/ana/s/logs", "folder": "/home/ana/s"},
        "2 of the sweep's 4 pictures were not made: a task ended before it reached them (cancelled, out of time, or stopped; its log is in /home/ana/s/logs). Run 'atelier sweep --out /home/ana/s' again: it makes only what is left, and keeps what is done.",
    ),
    "sweep-cells-failed": (
        {"failed": 1, "cells": 48, "folder": "/home/ana/s"},
        "1 of the sweep's 48 pictures failed (each reason is above); the others were made. Change or drop the values that failed; running 'atelier sweep --out /home/ana/s' again tries them again.",
    ),
    "sweep-locked": (
        {"lock": "/home/ana/atelier-sweeps/crit/.submit.lock"},
        "Another 'atelier sweep' is submitting this sweep right now (the lock /home/ana/atelier-sweeps/crit/.submit.lock is held). Wait a minute and run it again; a lock left by a stopped command is taken over after a minute.",
    ),
    "sweep-no-output": (
        {},
        "This picture's run finished but saved nothing: the workflow has no box that saves its output. Add a Save Image (or Save Video, Save Audio) box to the workflow; a Preview box shows a picture but keeps none.",
    ),
    "sweep-folder-space": (
        {"folder": "/home/ana/My sweeps/crit"},
        "The sweep's folder /home/ana/My sweeps/crit has a space in its path, which Slurm's batch script options cannot hold. Choose a folder whose path has no spaces with --out, e.g. ~/atelier-sweeps/crit-week-3.",
    ),
    # knob strips
    "strips-no-picture": (
        {"lesson": "controlnet", "title": "Canny edges"},
        "In controlnet, no box that saves a picture follows the box 'Canny edges', so its knob has no strip. Check the knob's box title in module.yaml, or take the knob's 'try' values out if it changes no picture.",
    ),
    "strips-failed": (
        {
            "lesson": "controlnet",
            "setting": "Canny edges.high_threshold=0.15",
            "reason": "The run stopped in node 6 'Canny edges': Invalid input thresholds",
        },
        "The strip picture for Canny edges.high_threshold=0.15 in controlnet was not made: The run stopped in node 6 'Canny edges': Invalid input thresholds. Fix that value in module.yaml's 'try' list (or the models), then run 'atelier strips --modules controlnet' again.",
    ),
    # custom nodes
    "lint-custom-node-licence": (
        {
            "file": "workflows/depth-controlnet/module.yaml",
            "name": "ComfyUI-DepthAnythingV2",
            "nodes": "DepthAnything_V2, DownloadAndLoadDepthAnythingV2Model",
        },
        "workflows/depth-controlnet/module.yaml: the workflow uses DepthAnything_V2, DownloadAndLoadDepthAnythingV2Model from the custom node ComfyUI-DepthAnythingV2, but module.yaml does not say where that node is from and what its licence is. Add it under custom_nodes in module.yaml, with its name, repository and licence as its repository states it.",
    ),
    "lint-custom-node-pin": (
        {
            "file": "workflows/depth-controlnet/workflow.json",
            "name": "ComfyUI-DepthAnythingV2",
            "commit": "553187872eeb1d52e50dc53209fa57e569609a72",
            "pinned": "does not pin it",
        },
        "workflows/depth-controlnet/workflow.json needs the custom node ComfyUI-DepthAnythingV2; the node catalogue was made from its commit 553187872eeb1d52e50dc53209fa57e569609a72, but the semester pin does not pin it. Pin that commit in workflows/lock.yaml, or install the pinned commit and run 'atelier catalogue' again.",
    ),
    "install-source-unreachable": (
        {"what": "ComfyUI", "source": "https://git.example.edu/ComfyUI.git", "reason": "fatal: unable to access"},
        "ComfyUI's git repository https://git.example.edu/ComfyUI.git did not answer (fatal: unable to "
        "access). Check the address, or give the site's git mirror with --source (a custom node's with "
        "--node-source NAME=URL); install remembers it for the next run. Nothing was changed.",
    ),
    "install-source-commit": (
        {"what": "ComfyUI", "source": "/mirrors/ComfyUI", "commit": "a125cd8", "reason": "not our ref a125cd8"},
        "/mirrors/ComfyUI does not hold ComfyUI's pinned commit a125cd8 (not our ref a125cd8). A mirror "
        "must be a real clone of upstream (git clone --mirror), not a copy of its files: ask whoever "
        "keeps it to update it, or give another one with --source. Nothing was changed.",
    ),
    "install-python-missing": (
        {"python": "/opt/python3.11"},
        "The Python /opt/python3.11 that should make the install's environments was not found. Give an "
        "interpreter every account can run with --python, for example /usr/bin/python3.11 or the one a "
        "'module load' gives.",
    ),
    "install-settings-damaged": (
        {"file": "/p/.install/settings.json"},
        "The record of how this prefix was installed, /p/.install/settings.json, cannot be read. Delete "
        "it and run 'atelier install' again with --source and the index options you mean.",
    ),
    "install-torch-build": (
        {
            "venv": "/p/comfyui-venv",
            "found": "torch 2.9.1+cpu (the lock says 2.9.1)",
            "file": "workflows/requirements/comfyui-cuda.txt",
        },
        "PyTorch in /p/comfyui-venv is not the build the package lock names: torch 2.9.1+cpu (the lock "
        "says 2.9.1). Run 'atelier install' again: it uninstalls that build and installs "
        "workflows/requirements/comfyui-cuda.txt's. If it comes back, the index gives another build under"
        " the same version: set --torch-index.",
    ),
    "install-package-missing": (
        {
            "reason": "No matching distribution found for torch==2.9.1",
            "file": "workflows/requirements/comfyui-cuda.txt",
            "log": "/p/install-logs/03-comfyui-packages.log",
        },
        "The package index has no file for a locked package (No matching distribution found for "
        "torch==2.9.1). Point install at an index that has it (--index-url, or --torch-index for "
        "PyTorch's builds), or at a folder of wheels with --wheelhouse; workflows/requirements/comfyui-"
        "cuda.txt lists what is needed. pip's log: /p/install-logs/03-comfyui-packages.log.",
    ),
    "install-package-hash": (
        {"file": "workflows/requirements/comfyui-cuda.txt", "log": "/p/install-logs/03-comfyui-packages.log"},
        "A package the index gave does not match its sha256 in workflows/requirements/comfyui-cuda.txt. "
        "The index serves another file under the same version: install from one that mirrors PyPI "
        "exactly, or make the lock again at this site with 'atelier lock --refresh'. pip's log: "
        "/p/install-logs/03-comfyui-packages.log.",
    ),
    "install-not-shared": (
        {"prefix": "/p", "paths": "/home/me (drwx------)"},
        "Students cannot run the install in /p: other accounts cannot read or run /home/me (drwx------). "
        "Make the environments from a Python every account can run (--python, e.g. /usr/bin/python3.11 or"
        " one from 'module load'), or give others access (chmod o+rX), then run 'atelier install' again.",
    ),
    "packages-lock-missing": (
        {"file": "workflows/requirements/comfyui-cpu.txt", "variant": "comfyui-cpu"},
        "The package lock workflows/requirements/comfyui-cpu.txt is missing. Make it with 'atelier lock "
        "--refresh' (add --cpu for the CPU build) on a host that reaches the package index, check it with"
        " a test install, and commit it.",
    ),
    "packages-lock-line": (
        {"file": "workflows/requirements/atelier.txt", "line": 4, "text": "click"},
        "workflows/requirements/atelier.txt, line 4: 'click' is not a locked package. Make the file again"
        " with 'atelier lock --refresh' rather than editing it by hand.",
    ),
    "packages-lock-stale": (
        {"file": "workflows/requirements/comfyui-cuda.txt"},
        "The package lock workflows/requirements/comfyui-cuda.txt was made for another semester pin "
        "(another ComfyUI or custom node commit). Make it again for this pin with 'atelier lock "
        "--refresh', then run the test install.",
    ),
    "packages-lock-python": (
        {"file": "workflows/requirements/comfyui-cuda.txt", "made": "3.11", "python": "3.12"},
        "The package lock workflows/requirements/comfyui-cuda.txt was made for Python 3.11, but the "
        "install's Python is 3.12. Install with a Python 3.11 (--python), or make the lock for 3.12 with "
        "'atelier lock --refresh --python PATH'.",
    ),
    "packages-resolve-failed": (
        {"reason": "No matching distribution found for torch==2.9.1+cpu", "log": "/tmp/lock-comfyui-cpu.log"},
        "The semester's packages could not be resolved by pip (No matching distribution found for "
        "torch==2.9.1+cpu). Its log /tmp/lock-comfyui-cpu.log has the whole story; check the index "
        "options (--index-url, --torch-index).",
    ),
    "models-size-failed": (
        {"name": "x.safetensors", "url": "https://example.org/x", "reason": "timed out"},
        "Asking https://example.org/x for the size of x.safetensors failed (timed out); nothing was "
        "downloaded. This host cannot reach the model's publisher. Fetch the models on a host that can "
        "(the same 'atelier models fetch'), carry the files over, and add them with 'atelier models "
        "import FOLDER'.",
    ),
    "models-import-mismatch": (
        {"name": "x.safetensors", "file": "/carried/x.safetensors", "expected": "abc", "got": "def"},
        "/carried/x.safetensors is not the published x.safetensors: its sha256 is def, the publisher's is"
        " abc. Nothing of it was put in the store. Fetch the file again where it came from, then run the "
        "import again.",
    ),
    "models-import-missing": (
        {"missing": 2, "total": 5, "folder": "/carried"},
        "2 of 5 model files were not found in /carried. Each is listed above as 'not found': copy it into"
        " that folder (any sub-folder) and import again; the files already imported are kept.",
    ),
    "ood-portal-host-regex-nodes": (
        {"file": "ood_portal.yml", "value": "'gpu[0-9]+'", "nodes": "gpu001.example.edu", "clusters": "Pegasus"},
        "ood_portal.yml: host_regex 'gpu[0-9]+' does not match gpu001.example.edu (Pegasus's compute "
        "nodes, named as their jobs name them), so the dashboard's proxy cannot reach a session there. "
        "Make host_regex match those names whole (with the domain where hostname prints one, each dot "
        "written \\.), run update_ood_portal and restart Apache.",
    ),
    "ood-portal-nodes-unknown": (
        {},
        "No cluster profile lists compute_nodes, so the check cannot tell whether host_regex reaches "
        "them. Add a few nodes' names to each profile as 'hostname' prints them in a job (for example "
        "from 'srun hostname' on each partition), then run the check again.",
    ),
    "missing-model": (
        {"name": "x.safetensors", "folder": "checkpoints", "module": "txt2img-basics"},
        "The model file x.safetensors is not in the checkpoints folder on this server. A maintainer adds "
        "it with 'atelier models fetch --module txt2img-basics'; to try the lesson before the real models"
        " are in, make test models ('atelier testmodels --modules txt2img-basics --out DIR') and run with"
        " '--models DIR'.",
    ),
    "models-download-failed": (
        {"name": "x.safetensors", "url": "https://example.org/x", "reason": "timed out"},
        "Downloading x.safetensors from https://example.org/x failed (timed out). Run the command again: "
        "it resumes where it stopped. If this host cannot reach the publisher, fetch on one that can and "
        "add the files here with 'atelier models import FOLDER'.",
    ),
    "install-commit-mismatch": (
        {
            "what": "my-nodes",
            "folder": "/p/ComfyUI/custom_nodes/my-nodes",
            "got": "abc",
            "expected": "def",
            "repository": "https://example.org/my-nodes.git",
        },
        "my-nodes in /p/ComfyUI/custom_nodes/my-nodes is at commit abc, but the semester pin says def. "
        "Check that the pinned commit exists in https://example.org/my-nodes.git, then run 'atelier "
        "install' again: the wrong checkout is set aside, never counted as done.",
    ),
}


def test_every_message_has_an_exact_text_case() -> None:
    assert EXACT.keys() == MESSAGES.keys()


@pytest.mark.parametrize("code", EXACT)
def test_exact_text(code: str) -> None:
    values, expected = EXACT[code]
    assert str(AtelierError(code, **values)) == expected


def test_unregistered_code_or_missing_value_is_a_bug() -> None:
    with pytest.raises(KeyError):
        AtelierError("no-such-code")
    with pytest.raises(KeyError):
        AtelierError("lock-missing")
