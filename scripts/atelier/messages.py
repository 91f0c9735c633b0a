"""Every message a person can meet (the message list), and the error that carries them.

Every user-facing failure is a registered code with a message (what happened) and a
hint (what to do), in plain language. The CLI prints them; the troubleshooting page is
generated from this list; a test checks that every raised code is registered and every
registered code is raised. Keeping them here, not at the raise sites, is what lets the
docs and the tests see all of them.
"""

from __future__ import annotations

import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One registered message: `text` and `hint` are `str.format` templates."""

    code: str
    text: str
    hint: str
    reader: str  # who meets it: "student", "instructor" or "maintainer"
    exit_code: int = 1  # 1: it failed; 2: the input was wrong

    def fields(self) -> set[str]:
        """The placeholder names the templates use."""
        names = set()
        for template in (self.text, self.hint):
            names |= {name for _, name, _, _ in string.Formatter().parse(template) if name}
        return names


MESSAGES: dict[str, Message] = {
    m.code: m
    for m in [
        Message(
            "pin-missing",
            "The semester pin {file} was not found.",
            "Check the path given with --pin; without it, atelier reads the project's workflows/pin.yaml.",
            "maintainer",
            2,
        ),
        Message(
            "yaml-malformed",
            "{file} is not valid YAML (line {line}: {problem}).",
            "Fix that line (YAML needs consistent spaces, and quotes around text that holds a colon).",
            "instructor",
            2,
        ),
        Message(
            "pin-field",
            "{file}: '{field}' {problem}.",
            "Fix that field; the Runbook page 'The semester pin' shows a complete example.",
            "maintainer",
            2,
        ),
        Message(
            "server-unreachable",
            "ComfyUI at {url} is not answering.",
            "Check in the dashboard (My Interactive Sessions) that your session is still running, then try again.",
            "student",
        ),
        Message(
            "comfyui-missing",
            "No ComfyUI was found at {path}.",
            "Set COMFYUI_DIR to a ComfyUI checkout, or install the pinned one with 'atelier install'.",
            "maintainer",
            2,
        ),
        Message(
            "server-start-failed",
            "ComfyUI did not start: {reason}.",
            "Its log is {log}; the last lines usually say why.",
            "maintainer",
        ),
        Message(
            "gate-refused",
            "The ComfyUI at {url} refused the session key.",
            "Open ComfyUI again with the Open ComfyUI button on your session's card in My Interactive Sessions. "
            "From a notebook or a command, pass the session's connection file with --key-file.",
            "student",
        ),
        Message(
            "gate-missing",
            "ComfyUI answered without its login gate, so it was stopped.",
            "Check that {extensions} is readable and listed in the "
            "extra model paths config; see the Runbook's gate page.",
            "maintainer",
        ),
        Message(
            "node-list-missing",
            "The node list {file} was not found.",
            "A maintainer makes it with 'atelier nodes' against the pinned ComfyUI, then commits it.",
            "instructor",
            2,
        ),
        Message(
            "node-list-no-audio",
            "The ComfyUI at {url} has no audio nodes ({nodes}), so its node list would be incomplete.",
            "Install torchaudio in that ComfyUI's Python environment, restart it and run 'atelier nodes' again.",
            "maintainer",
        ),
        # Lint: problems in a lesson module, reported together (see atelier.lint).
        Message(
            "lint-no-modules",
            "{path} holds no lesson module (a folder with workflow.json and module.yaml) and is no workflow file.",
            "Give the path of a module folder, of the folder that "
            "holds them (workflows/), or of a workflow .json file.",
            "instructor",
            2,
        ),
        Message(
            "module-file-missing",
            "{folder} has no {name}.",
            "A module folder holds workflow.json and module.yaml; 'atelier new-module' makes both.",
            "instructor",
        ),
        Message(
            "json-malformed",
            "{file} is not valid JSON (line {line}, column {column}: {problem}).",
            "Export the workflow again from ComfyUI (Workflow menu, Export), or fix that spot.",
            "instructor",
        ),
        Message(
            "lint-module-field",
            "{file}: '{field}' {problem}.",
            "Every field is explained in the module.yaml that 'atelier new-module' writes.",
            "instructor",
        ),
        Message(
            "lint-prerequisite",
            "{file}: prerequisite '{module}' is not a module in {folder}.",
            "Use the folder name of another module, or remove it.",
            "instructor",
        ),
        Message(
            "lint-unknown-node",
            "{file}: node {node} '{title}' is of type {type}, which ComfyUI {version} does not have.",
            "Use one of ComfyUI's own nodes, or pin the custom node that provides it in workflows/pin.yaml.",
            "instructor",
        ),
        Message(
            "lint-online-node",
            "{file}: node {node} '{title}' is of type {type}, which sends the work to an outside paid service.",
            "Atelier keeps all work inside the university: replace it with a node that runs on the cluster.",
            "instructor",
        ),
        Message(
            "lint-bad-value",
            "{file}: node {node} '{title}': {input} is {value}, expected {expected}.",
            "Change the value on the ComfyUI canvas and export the workflow again.",
            "instructor",
        ),
        Message(
            "lint-unconnected",
            "{file}: node {node} '{title}': required input {input} is not connected.",
            "Connect it on the ComfyUI canvas and export the workflow again.",
            "instructor",
        ),
        Message(
            "lint-dangling-link",
            "{file}: link {link} {problem}.",
            "Reconnect the nodes on the ComfyUI canvas and export the workflow again.",
            "instructor",
        ),
        Message(
            "lint-link-type",
            "{file}: link {link} joins {source_type} from node {source} '{source_title}' to input {input} "
            "of node {node} '{title}', which takes {input_type}.",
            "Connect an output of the type that input takes.",
            "instructor",
        ),
        Message(
            "lint-subgraph",
            "{file}: node {node} '{title}' is a subgraph (several "
            "nodes folded into one), which Atelier cannot run yet.",
            "On the ComfyUI canvas, right-click it and choose Unpack Subgraph, then export the workflow again.",
            "instructor",
        ),
        Message(
            "run-workflow-refused",
            "{file} cannot run on the pinned ComfyUI (problems found: "
            "{errors}, each listed above with its node and field).",
            "Fix them on the ComfyUI canvas and export the workflow again; nothing was run.",
            "instructor",
            2,
        ),
        Message(
            "new-module-no-output",
            "{file} saves nothing, so a lesson made from it would leave students with nothing to keep.",
            "Add a node that saves what it makes ({saves}) on the ComfyUI canvas, then export it again.",
            "instructor",
            2,
        ),
        Message(
            "workflow-not-canvas",
            "{file} is not a workflow as ComfyUI's canvas saves it (it has no list of nodes).",
            "In ComfyUI, open it and use Workflow > Export (not Export (API)), then give that file.",
            "instructor",
        ),
        Message(
            "lint-undeclared-model",
            "{file}: node {node} '{title}' loads {model}, which its properties.models does not declare.",
            "Add the model's name, url and directory there, as ComfyUI's own templates do.",
            "instructor",
        ),
        Message(
            "lint-model-field",
            "{file}: node {node} '{title}': model {model} has no {field}.",
            "Add it to that model's entry in the node's properties.models.",
            "instructor",
        ),
        Message(
            "lint-model-hash",
            "{file}: node {node} '{title}': model {model} has no sha256 from its publisher.",
            "Add hash and hash_type: sha256 if the publisher states one; until then a download cannot be verified.",
            "instructor",
        ),
        Message(
            "lint-model-licence",
            "{file}: model {model} has no licence.",
            "Add it under models in module.yaml, with the licence's name and a link to its text.",
            "instructor",
        ),
        Message(
            "lint-input-file",
            "{file}: node {node} '{title}' loads {name}, which is not in the module's inputs/ folder.",
            "Put the file in the module's inputs/ folder, so students get it with the lesson.",
            "instructor",
        ),
        Message(
            "lint-knob",
            "{file}: knob '{knob}' {problem}.",
            "A knob names a node by its title on the canvas and one of that node's inputs.",
            "instructor",
        ),
        Message(
            "workflow-convert",
            "{file}: ComfyUI's workflow converter could not read it ({problem}).",
            "Open it in ComfyUI and export it again (Workflow menu, Export).",
            "instructor",
        ),
        Message(
            "lint-node-list-version",
            "The node list is from ComfyUI {node_list}, but the semester pin is {pinned}.",
            "Run 'atelier nodes' against the pinned ComfyUI, then lint again.",
            "maintainer",
        ),
        Message(
            "new-module-slug",
            "The name '{slug}' can't be used for a module.",
            "Use lower-case letters, digits and single dashes, like 'charcoal-portraits'.",
            "instructor",
            2,
        ),
        Message(
            "new-module-exists",
            "{folder} already exists.",
            "Choose another name, or edit that module instead.",
            "instructor",
            2,
        ),
        Message(
            "new-module-source",
            "There is no module '{source}' in {folder} to start from.",
            "Give the folder name of an existing module with --from, e.g. --from txt2img-basics.",
            "instructor",
            2,
        ),
        Message(
            "new-module-choice",
            "Kind '{modality}' or level '{level}' is not one Atelier knows.",
            "Kinds: {modalities}. Levels: {levels}.",
            "instructor",
            2,
        ),
        # Running a workflow (atelier run / check): what a student can meet.
        Message(
            "workflow-missing",
            "{path} is not a lesson module or a workflow file.",
            "Give a module by name (txt2img-basics) or folder (workflows/txt2img-basics), or a workflow .json file.",
            "student",
            2,
        ),
        Message(
            "module-unknown",
            "There is no lesson module '{name}': no module folder at that path, and none of that name in {folder}.",
            "Give a module by its name or its folder; the modules there are: {known}.",
            "instructor",
            2,
        ),
        Message(
            "knob-format",
            "Setting '{setting}' is not written as node.setting=value.",
            'Write the node\'s title, a dot, the setting, an equals sign and the value: "KSampler.seed=4".',
            "student",
            2,
        ),
        Message(
            "knob-unknown",
            "Setting '{setting}': the workflow has no node titled '{title}' with a setting {input}.",
            "Use the node's title as it shows on the canvas; the lesson page lists its knobs.",
            "student",
            2,
        ),
        Message(
            "knob-value",
            "Setting '{setting}' is not allowed: {input} takes {expected}.",
            "Choose a value in that range, or one of those choices.",
            "student",
            2,
        ),
        Message(
            "missing-model",
            "The model file {name} is not in the {folder} folder on this server.",
            "A maintainer adds it with 'atelier models fetch --module {module}'; to try the lesson before the "
            "real models are in, make test models ('atelier testmodels --module {module} --out DIR') and run "
            "with '--models DIR'.",
            "instructor",
        ),
        Message(
            "workflow-rejected",
            "ComfyUI refused node {node} '{title}': {detail}.",
            "Check that node's settings on the canvas; the lesson page lists the allowed values.",
            "student",
        ),
        Message(
            "out-of-memory",
            "The GPU ran out of memory in node {node} '{title}'.",
            "Make the picture smaller or the batch size 1, or start a session with a bigger GPU.",
            "student",
        ),
        Message(
            "share-full",
            "This session's share of the GPU ({share} GB) is full, so the picture stopped.",
            "Make the picture smaller or the batch size 1, or start a session on a whole GPU.",
            "student",
        ),
        Message(
            "run-failed",
            "The run stopped in node {node} '{title}': {detail}.",
            "Check that node's settings; if it happens again, send this message to your instructor.",
            "student",
        ),
        Message(
            "folder-full",
            "Your outputs folder is full: the picture from node {node} '{title}' could not be saved.",
            "Delete old pictures in the dashboard's Files app (download the ones you want to keep first), "
            "then run again.",
            "student",
        ),
        Message(
            "folder-low",
            "Only {free} is left in {folder}, where this session keeps your pictures and saved workflows.",
            "Make room before it is full: delete old pictures in the dashboard's Files app (download the ones "
            "you want to keep first).",
            "student",
        ),
        Message(
            "server-died",
            "ComfyUI stopped while it was running the workflow.",
            "Finished files are safe in your output folder; start a new session from the dashboard and run it again.",
            "student",
        ),
        Message(
            "run-timeout",
            "The workflow did not finish within {seconds} seconds.",
            "Lower the steps or the picture size, or allow more time with --timeout.",
            "student",
        ),
        # sweeps
        Message(
            "sweep-values",
            "The values '{values}' for {setting} are not a list or a range.",
            "Write a list as 2,4,7, a range as 1..4 or 2..8:2 (every 2), or text with commas as a list in "
            'brackets: ["a, b", "c"].',
            "student",
            2,
        ),
        Message(
            "sweep-no-tries",
            "{setting} has no values to try in {lesson}.",
            'Give the values yourself, e.g. --vary "{setting}=1,2,3"; the lesson page lists the knobs that have some.',
            "student",
            2,
        ),
        Message(
            "sweep-axis-twice",
            "{setting} is varied twice.",
            "Give each setting one --vary, with all its values.",
            "student",
            2,
        ),
        Message(
            "sweep-too-big",
            "The grid has {cells} pictures; a sweep makes at most {most}.",
            "Vary fewer settings, or give each fewer values.",
            "student",
            2,
        ),
        Message(
            "sweep-missing",
            "{folder} holds no sweep (there is no sweep.json in it).",
            "Give the folder that 'atelier sweep' named when it started, or start one with a lesson and --vary.",
            "student",
            2,
        ),
        Message(
            "sweep-plan-damaged",
            "The sweep's plan {file} cannot be read ({problem}).",
            "Start the sweep again in a new folder; the pictures already made in this one stay where they are.",
            "student",
        ),
        Message(
            "sweep-other-grid",
            "{folder} holds another sweep (another lesson, grid or fixed settings).",
            "Run it again with the same lesson and --vary/--set, or start this one in a new folder with --out.",
            "student",
            2,
        ),
        Message(
            "sweep-folder-taken",
            "{folder} already holds other files, so a sweep is not started there.",
            "Choose an empty or new folder with --out.",
            "student",
            2,
        ),
        Message(
            "sweep-task-unknown",
            "This sweep has no task {task} in round {round}.",
            "Run 'atelier sweep --out FOLDER' to follow the sweep; tasks are started by it, not by hand.",
            "maintainer",
            2,
        ),
        Message(
            "sweep-not-running",
            "The sweep in {folder} has no tasks running or waiting.",
            "Nothing to cancel. Run 'atelier sweep --out {folder}' to make what is left.",
            "student",
            2,
        ),
        Message(
            "sweep-locked",
            "Another 'atelier sweep' is submitting this sweep right now (the lock {lock} is held).",
            "Wait a minute and run it again; a lock left by a stopped command is taken over after a minute.",
            "student",
        ),
        Message(
            "sweep-no-output",
            "This picture's run finished but saved nothing: the workflow has no node that saves its output.",
            "Add a Save Image (or Save Video, Save Audio) node to the "
            "workflow; a Preview node shows a picture but keeps none.",
            "student",
        ),
        Message(
            "sweep-folder-space",
            "The sweep's folder {folder} has a space in its path, which Slurm's batch script options cannot hold.",
            "Choose a folder whose path has no spaces with --out, e.g. ~/atelier-sweeps/crit-week-3.",
            "student",
            2,
        ),
        Message(
            "sweep-incomplete",
            "{left} of the sweep's {cells} pictures were not made: a task ended before it reached them "
            "(cancelled, out of time, or stopped; its log is in {logs}).",
            "Run 'atelier sweep --out {folder}' again: it makes only what is left, and keeps what is done.",
            "student",
        ),
        Message(
            "sweep-cells-failed",
            "{failed} of the sweep's {cells} pictures failed (each reason is above); the others were made.",
            "Change or drop the values that failed; running 'atelier sweep --out {folder}' again tries them again.",
            "student",
        ),
        # knob strips
        Message(
            "strips-no-picture",
            "In {lesson}, no node that saves a picture follows the node '{title}', so its knob has no strip.",
            "Check the knob's node title in module.yaml, or take the knob's 'try' values out if it changes no picture.",
            "instructor",
            2,
        ),
        Message(
            "strips-failed",
            "The strip picture for {setting} in {lesson} was not made: {reason}.",
            "Fix that value in module.yaml's 'try' list (or the "
            "models), then run 'atelier strips --module {lesson}' again.",
            "maintainer",
        ),
        Message(
            "testmodels-failed",
            "Making the test models failed: {reason}.",
            "Check that COMFYUI_PYTHON is the Python of the ComfyUI checkout (it needs torch and safetensors).",
            "maintainer",
        ),
        Message(
            "comfyui-option-refused",
            "{option} is not a ComfyUI option Atelier passes on ({where}).",
            "Use one of: {allowed}.",
            "maintainer",
            2,
        ),
        Message(
            "comfyui-options-clash",
            "{first} and {second} cannot be given together ({where}).",
            "ComfyUI takes one option of each kind: keep one of them.",
            "maintainer",
            2,
        ),
        Message(
            "bench-workload-unknown",
            "There is no benchmark workload called {name}.",
            "Choose from: {known}.",
            "maintainer",
        ),
        Message(
            "bench-results-bad",
            "{file} cannot be read as benchmark figures: {detail}.",
            "Write it again with atelier bench --json, or correct it or take it out of docs/benchmarks/.",
            "maintainer",
        ),
        Message(
            "screenshots-no-browser",
            "Taking screenshots needs {what}, which is not here.",
            "Install it, or run ./dev test once as root, which installs everything the tests use.",
            "maintainer",
        ),
        Message(
            "screenshots-failed",
            "Taking the screenshots stopped at {step}: {reason}.",
            "The page as it was is in {picture} and ComfyUI's log in {log}; if the frontend changed, update "
            "the selectors in scripts/atelier/site/screenshots.py.",
            "maintainer",
        ),
        Message(
            "screenshots-external",
            "ComfyUI's page asked for {url} (requests to other hosts: {count}), which were refused.",
            "Nothing was saved. Find the frontend setting or feature that fetches it and turn it off in "
            "scripts/atelier/site/screenshots.py (SETTINGS) before taking the screenshots again.",
            "maintainer",
        ),
        Message(
            "check-failed",
            "{failed} of {total} lesson modules failed the check.",
            "Each failure is listed above with its reason; the report has the details.",
            "maintainer",
        ),
        # The shared model store (atelier models fetch).
        Message(
            "models-no-space",
            "The model store {store} has {free} GB free, but the downloads need {needed} GB.",
            "Free some space or choose a store on a larger file system with --store; nothing was downloaded.",
            "maintainer",
        ),
        Message(
            "models-hash-mismatch",
            "{name} did not match its published sha256: expected {expected}, got {got}.",
            "The partial file was removed; run the command again, and if it repeats, check the URL in the workflow.",
            "maintainer",
        ),
        Message(
            "models-verify-changed",
            "{file} does not match its published sha256 (expected {expected}, got {got}).",
            "It was moved to {moved}, where ComfyUI does not look; "
            "run 'atelier models fetch --all' to download it again.",
            "maintainer",
        ),
        Message(
            "models-verify-missing",
            "{file} is not in the store.",
            "Run 'atelier models fetch --all' to download it.",
            "maintainer",
        ),
        Message(
            "models-verify-failed",
            "{bad} of {total} model files in {store} are missing or changed.",
            "Each is listed above; run 'atelier models fetch --all', then 'atelier models verify' again.",
            "maintainer",
        ),
        Message(
            "models-size-failed",
            "Asking {url} for the size of {name} failed ({reason}); nothing was downloaded.",
            "This host cannot reach the model's publisher. Fetch the models on a host that can (the same "
            "'atelier models fetch'), carry the files over, and add them with 'atelier models import FOLDER'.",
            "maintainer",
        ),
        Message(
            "models-import-mismatch",
            "{file} is not the published {name}: its sha256 is {got}, the publisher's is {expected}.",
            "Nothing of it was put in the store. Fetch the file again where it came from, then run the import again.",
            "maintainer",
        ),
        Message(
            "models-import-missing",
            "{missing} of {total} model files were not found in {folder}.",
            "Each is listed above as 'not found': copy it into that folder (any sub-folder) and import again; "
            "the files already imported are kept.",
            "maintainer",
        ),
        Message(
            "models-download-failed",
            "Downloading {name} from {url} failed ({reason}).",
            "Run the command again: it resumes where it stopped. If this host cannot reach the publisher, fetch on "
            "one that can and add the files here with 'atelier models import FOLDER'.",
            "maintainer",
        ),
        # Installing the semester's software (atelier install).
        Message(
            "install-git-missing",
            "The git command was not found on this computer, and installing ComfyUI needs it.",
            "Make git available (on a cluster often 'module load git'), then run 'atelier install' again.",
            "maintainer",
        ),
        Message(
            "install-project-missing",
            "The Atelier project folder (with pyproject.toml) was not found at {path}.",
            "Run 'atelier install' from the folder you cloned Atelier into.",
            "maintainer",
            2,
        ),
        Message(
            "install-prefix",
            "The install folder {prefix} cannot be written to ({reason}).",
            "Choose a folder you can write to with --prefix, on group space rather than scratch "
            "(scratch files are deleted after 30 days).",
            "maintainer",
            2,
        ),
        Message(
            "install-step-failed",
            "The install step '{step}' failed with exit code {status}.",
            "Its log {log} says why; fix that, then run 'atelier install' again: finished steps are skipped.",
            "maintainer",
        ),
        Message(
            "install-commit-mismatch",
            "{what} in {folder} is at commit {got}, but the semester pin says {expected}.",
            "Check that the pinned commit exists in {repository}, then run 'atelier install' again: "
            "the wrong checkout is set aside, never counted as done.",
            "maintainer",
        ),
        Message(
            "install-source-unreachable",
            "{what}'s git repository {source} did not answer ({reason}).",
            "Check the address, or give the site's git mirror with --source (a custom node's with --node-source "
            "NAME=URL); install remembers it for the next run. Nothing was changed.",
            "maintainer",
        ),
        Message(
            "install-source-commit",
            "{source} does not hold {what}'s pinned commit {commit} ({reason}).",
            "A mirror must be a real clone of upstream (git clone --mirror), not a copy of its files: ask whoever "
            "keeps it to update it, or give another one with --source. Nothing was changed.",
            "maintainer",
        ),
        Message(
            "install-python-missing",
            "The Python {python} that should make the install's environments was not found.",
            "Give an interpreter every account can run with --python, for example /usr/bin/python3.11 or the one "
            "a 'module load' gives.",
            "maintainer",
            2,
        ),
        Message(
            "install-settings-damaged",
            "The record of how this prefix was installed, {file}, cannot be read.",
            "Delete it and run 'atelier install' again with --source and the index options you mean.",
            "maintainer",
        ),
        Message(
            "install-torch-build",
            "PyTorch in {venv} is not the build the package lock names: {found}.",
            "Run 'atelier install' again: it uninstalls that build and installs {file}'s. If it comes back, the "
            "index gives another build under the same version: set --torch-index.",
            "maintainer",
        ),
        Message(
            "install-package-missing",
            "The package index has no file for a locked package ({reason}).",
            "Point install at an index that has it (--index-url, or --torch-index for PyTorch's builds), or at "
            "a folder of wheels with --wheelhouse; {file} lists what is needed. pip's log: {log}.",
            "maintainer",
        ),
        Message(
            "install-package-hash",
            "A package the index gave does not match its sha256 in {file}.",
            "The index serves another file under the same version: install from one that mirrors PyPI exactly, "
            "or make the package lock again at this site with 'atelier pin --refresh'. pip's log: {log}.",
            "maintainer",
        ),
        Message(
            "install-not-shared",
            "Students cannot run the install in {prefix}: other accounts cannot read or run {paths}.",
            "Make the environments from a Python every account can run (--python, e.g. /usr/bin/python3.11 "
            "or one from 'module load'), or give others access (chmod o+rX), then run 'atelier install' again.",
            "maintainer",
        ),
        Message(
            "packages-lock-missing",
            "The package lock {file} is missing.",
            "Make it with 'atelier pin --refresh' (add --cpu for the CPU build) on a host that reaches the "
            "package index, check it with a test install, and commit it.",
            "maintainer",
        ),
        Message(
            "packages-lock-line",
            "{file}, line {line}: '{text}' is not a locked package.",
            "Make the file again with 'atelier pin --refresh' rather than editing it by hand.",
            "maintainer",
            2,
        ),
        Message(
            "packages-lock-stale",
            "The package lock {file} was made for another semester pin (another ComfyUI or custom node commit).",
            "Make it again for this pin with 'atelier pin --refresh', then run the test install.",
            "maintainer",
        ),
        Message(
            "packages-lock-python",
            "The package lock {file} was made for Python {made}, but the install's Python is {python}.",
            "Install with a Python {made} (--python), or make the package lock for {python} with "
            "'atelier pin --refresh --python PATH'.",
            "maintainer",
        ),
        Message(
            "packages-resolve-failed",
            "The semester's packages could not be resolved by pip ({reason}).",
            "Its log {log} has the whole story; check the index options (--index-url, --torch-index).",
            "maintainer",
        ),
        Message(
            "cluster-unknown",
            "There is no cluster profile named '{cluster}'.",
            "Use one of: {known}; or give the path of a profile file.",
            "maintainer",
            2,
        ),
        Message(
            "cluster-field",
            "{file}: '{field}' {problem}.",
            "Fix that field; the Runbook page 'Cluster profiles' explains each one.",
            "maintainer",
            2,
        ),
        Message(
            "cluster-gpu-unknown",
            "The {cluster} cluster has no GPU choice '{gpu}'.",
            "Choose one of: {choices}.",
            "student",
            2,
        ),
        Message(
            "share-too-small",
            "The lesson '{lesson}' needs {need} GB of GPU memory, and {choice} gives {has} GB.",
            "Choose a GPU that fits it: {fits}.",
            "student",
            2,
        ),
        Message(
            "class-size",
            "A class of {students} students cannot be planned.",
            "Give the number of students in the class, 1 or more.",
            "instructor",
            2,
        ),
        Message(
            "cluster-hours",
            "A session on {cluster} can last at most {most} hours, so {hours} hours can't be booked.",
            "Ask for {most} hours or fewer; you can start a new session when this one ends.",
            "student",
            2,
        ),
        Message(
            "slurm-missing",
            "The Slurm command '{command}' was not found on this computer.",
            "Run this on one of the cluster's login nodes, where Slurm is installed.",
            "student",
        ),
        Message(
            "slurm-refused",
            "Slurm refused the request ({command}: {reason}).",
            "Check the cluster, GPU and hours you chose; if it "
            "repeats, send this line to your course's support contact.",
            "student",
        ),
        Message(
            "session-ended",
            "The ComfyUI session (job {job}) ended before ComfyUI was ready (the log's last line: {last}).",
            "Read the whole log in {log}, then start a new session.",
            "student",
        ),
        Message(
            "session-slow",
            "The ComfyUI session (job {job}) was still {state} after {seconds} s (Slurm's reason: {reason}).",
            "It is still queued and will start on its own: check on it with 'atelier status', or end it with "
            "'atelier stop {job}'.",
            "student",
        ),
        Message(
            "session-unknown",
            "There is no ComfyUI session of yours with job number {job}.",
            "Run 'atelier status' to list your sessions and their job numbers.",
            "student",
            2,
        ),
        Message(
            "gate-key-short",
            "The session key in {file} is too short to be safe.",
            "Make a key of at least 22 random letters and digits (the Open OnDemand app's before.sh makes 43).",
            "maintainer",
        ),
        Message(
            "ledger-folder-missing",
            "There is no folder {folder}.",
            "Give the folder your outputs are saved in (the session's 'Save pictures in' folder).",
            "student",
            2,
        ),
        Message(
            "ledger-unreadable",
            "The ledger {file} cannot be read ({problem}).",
            "Move that file aside and scan again: the ledger is rebuilt from the outputs themselves, "
            "but which files were backed up when is only in the old one.",
            "student",
        ),
        Message(
            "compare-nothing",
            "There is nothing to compare in {paths}: no output there holds ComfyUI's settings.",
            "Give the folder ComfyUI saved into, or pictures, videos or sounds that ComfyUI made.",
            "student",
            2,
        ),
        Message(
            "compare-knob-unknown",
            "No setting called '{knob}' is in these outputs.",
            "Settings that differ between them: {choices}.",
            "student",
            2,
        ),
        Message(
            "compare-same-knob",
            "The options --by and --vs both name {knob}.",
            "Give two different settings, one for across the sheet and one for down.",
            "student",
            2,
        ),
        # class wall: atelier compare --class, an instructor's crit of a whole class (keep/compare.py).
        Message(
            "compare-what",
            "Give atelier compare either outputs (files or folders) or --class and a course folder, not both.",
            "For your own work: atelier compare ~/atelier-outputs. For a class: atelier compare --class ~/crit.",
            "student",
            2,
        ),
        Message(
            "class-folder-missing",
            "There is no course folder {folder}.",
            "Give the folder that holds one folder (or Box zip) per student; the Teach page 'Reviewing student "
            "work' says how to collect them.",
            "instructor",
            2,
        ),
        Message(
            "class-no-students",
            "{folder} holds no student folders.",
            "A class wall needs one folder (or Box zip) per student inside it, named after the student, such as "
            "ana and ben.",
            "instructor",
            2,
        ),
        Message(
            "class-student-empty",
            "{student} has nothing to show ({folder}): {found}.",
            "They are listed on the wall with an empty row. Ask them to share their Atelier/outputs folder again "
            "(a picture opened and saved in another program loses its settings).",
            "instructor",
        ),
        Message(
            "class-vs",
            "With --class, the rows are the students, so --vs has nothing to set.",
            "Leave out --vs; --by names the setting that splits each lesson into columns.",
            "instructor",
            2,
        ),
        # the dashboard's Class wall app (ood/classwall, web/classwall.py)
        Message(
            "classwall-folder-blank",
            "No course folder was given, so there is no wall to build.",
            "Pick a course folder from the list, or type the path of the folder that holds one folder (or Box zip) "
            "per student, then press Build the class wall.",
            "instructor",
            2,
        ),
        Message(
            "classwall-folder-outside",
            "The folder {folder} is not in {roots}, where the Class wall app opens course folders.",
            "Pick a course folder inside one of them; to add the place of a group folder, ask research computing "
            "(Runbook: Accounts and course folders for a class).",
            "instructor",
            2,
        ),
        Message(
            "classwall-file-refused",
            "The Class wall app shows only the files of a wall you built and the pictures of its course folder, "
            "so {path} was refused.",
            "Open the wall from the app's first page and follow its links.",
            "instructor",
        ),
        Message(
            "classwall-page-unknown",
            "The Class wall app has no page at {path}.",
            "Open Class wall from the dashboard's menu, and start from its first page.",
            "instructor",
        ),
        Message(
            "classwall-page-elsewhere",
            "That button was pressed on another website, so the Class wall app did nothing.",
            "Open Class wall from the dashboard's menu and press the button there.",
            "instructor",
        ),
        Message(
            "classwall-page-failed",
            "The Class wall app stopped on a problem of its own ({error}).",
            "Reload the page; if it happens again, send this sentence to your course's support contact.",
            "instructor",
        ),
        # compare page: ComfyUI's Compare page (comfy/extensions/atelier_compare) runs atelier compare --within.
        Message(
            "compare-none-picked",
            "No outputs were picked, so there is nothing to compare.",
            "Tick the outputs you want side by side, or say how many of the newest to compare, then press the "
            "button again.",
            "student",
            2,
        ),
        Message(
            "compare-outside",
            "{path} is not in your outputs folder, so it was not compared.",
            "Pick outputs from the list on the Compare page: only files inside {folder} can be compared there.",
            "student",
            2,
        ),
        Message(
            "compare-failed",
            "The comparison could not be made: the program that makes it stopped without saying why.",
            "Reload the Compare page and try again; if it happens again, tell your course's support contact "
            "which outputs you picked.",
            "student",
        ),
        Message(
            "user-folder-locked",
            "Your saved workflows could not be brought up to date: another session has held {lock} for a while.",
            "Nothing is lost: this session keeps your work and tries again in a few seconds. If it keeps happening, "
            "end your other sessions.",
            "student",
        ),
        Message(
            "user-folder-unwritable",
            "Your saved workflows could not be written to your ComfyUI folder {folder} ({detail}).",
            "Nothing is lost: this session keeps its own copy and tries again in a few seconds. If your home "
            "folder is full, make room in it (the dashboard's Files shows what takes the space).",
            "student",
        ),
        Message(
            "backup-target-format",
            "The backup place '{target}' is not written as REMOTE:FOLDER.",
            "Write the remote's name, a colon and a folder, for example box:Atelier.",
            "student",
            2,
        ),
        Message(
            "backup-no-rclone",
            "The program that copies outputs to Box (rclone) is not installed here.",
            "Ask your course's support contact: 'atelier install' puts it beside atelier.",
            "maintainer",
        ),
        Message(
            "backup-remote-unknown",
            "Box is not connected yet: there is no rclone remote called '{remote}'.",
            "Connect it once in the dashboard: open Files, then Box backup, and press Connect (Start here: Keep your "
            "work safe).",
            "student",
        ),
        Message(
            "backup-denied",
            "The backup was refused: the sign-in kept for '{remote}' has expired or was withdrawn.",
            "Open the dashboard's Box app and press Connect again (a Box sign-in lapses after 60 days without a "
            "backup); nothing already backed up is lost.",
            "student",
        ),
        Message(
            "backup-unreachable",
            "The backup could not reach '{remote}' from here.",
            "Your outputs are safe in their folder and the next backup tries again; if it keeps failing, "
            "tell your course's support contact.",
            "student",
        ),
        Message(
            "backup-failed",
            "The backup to '{remote}' stopped: {detail}.",
            "Nothing is lost: the next backup (a few minutes later, or as the session ends) carries on where this one "
            "stopped.",
            "student",
        ),
        Message(
            "backup-token-bad",
            "What was pasted is not the sign-in text rclone prints.",
            "Copy the whole block between ---> and <--- that 'rclone authorize' printed, and paste it again.",
            "student",
            2,
        ),
        Message(
            "box-signin-denied",
            "{title} was not connected: on {title}'s page, Deny was chosen.",
            "Nothing was changed. To connect it, press Connect {title} again and choose Grant access to {title}.",
            "student",
        ),
        Message(
            "box-signin-stale",
            "This {title} sign-in was not started on this page, or was started more than 10 minutes ago, "
            "so it was not used.",
            "Nothing was changed. Open the dashboard's {title} app and press Connect {title} again.",
            "student",
            2,
        ),
        Message(
            "box-token-refused",
            "{title} did not finish the sign-in: it answered '{detail}'.",
            "Nothing was changed. Press Connect {title} again; if the same happens, send this sentence to your "
            "course's support contact.",
            "student",
        ),
        Message(
            "box-unreachable",
            "{title} could not be reached to finish the sign-in.",
            "Nothing was changed. Try Connect {title} again in a few minutes; if it keeps failing, tell your "
            "course's support contact.",
            "student",
        ),
        Message(
            "box-app-unset",
            "Connecting {title} from the dashboard is not set up yet on this cluster.",
            "Tell your course's support contact: the cluster profile needs the university's {title} app (Runbook: "
            "Backups). Your outputs stay safe in their folder meanwhile.",
            "student",
        ),
        Message(
            "box-page-unknown",
            "The {title} app has no page at {path}.",
            "Open the dashboard's {title} app from its menu, and start from its first page.",
            "student",
        ),
        Message(
            "box-page-elsewhere",
            "That button was pressed on another website, so the {title} app did nothing.",
            "Open the dashboard's {title} app from its menu and press the button there.",
            "student",
        ),
        Message(
            "box-page-failed",
            "The {title} app stopped on a problem of its own ({error}).",
            "Reload the page; if it happens again, send this sentence to your course's support contact.",
            "student",
        ),
        Message(
            "box-profiles-disagree",
            "The clusters {clusters} keep their backups in different places ({detail}), but the dashboard's Box "
            "app connects one for every cluster.",
            "Give those profiles the same backup: section, then run 'atelier ood deploy' again.",
            "maintainer",
            2,
        ),
        Message(
            "ood-box-unset",
            "The Box app was deployed, but the profile {profile} names no {missing}, so no student can connect "
            "with it yet.",
            "Register the university's Box app and fill in the profile as the Runbook's Backups page says, then "
            "deploy again; until then students connect with 'atelier backup setup'.",
            "maintainer",
        ),
        Message(
            "ood-portal-missing",
            "The portal settings {file} were not found.",
            "Pass the ood_portal.yml the site's Apache is made from (usually /etc/ood/config/ood_portal.yml).",
            "maintainer",
            2,
        ),
        Message(
            "ood-portal-encoded-slashes",
            "{file} lets no encoded slash through: Apache itself answers 404 when ComfyUI's Workflows panel "
            "opens or saves a workflow (its addresses hold %2F), so students cannot open their lesson.",
            "Add 'AllowEncodedSlashes NoDecode' to custom_vhost_directives, run update_ood_portal and restart Apache.",
            "maintainer",
        ),
        Message(
            "ood-portal-rnode",
            "{file} sets no rnode_uri, so the dashboard does not proxy /rnode/, where the session card's "
            "Open ComfyUI button leads.",
            "Set rnode_uri: '/rnode' (and node_uri: '/node'), run update_ood_portal and restart Apache.",
            "maintainer",
        ),
        Message(
            "ood-portal-host-regex-nodes",
            "{file}: host_regex {value} does not match {nodes} ({clusters}'s compute nodes, named as their jobs "
            "name them), so the dashboard's proxy cannot reach a session there.",
            "Make host_regex match those names whole (with the domain where hostname prints one, each dot "
            "written \\.), run update_ood_portal and restart Apache.",
            "maintainer",
        ),
        Message(
            "ood-portal-nodes-unknown",
            "No cluster profile lists compute_nodes, so the check cannot tell whether host_regex reaches them.",
            "Add a few nodes' names to each profile as 'hostname' prints them in a job (for example from "
            "'srun hostname' on each partition), then run the check again.",
            "maintainer",
        ),
        Message(
            "ood-portal-host-regex",
            "{file}: host_regex is {value}, so the dashboard's proxy reaches {reach}: a page another user serves "
            "there runs in the dashboard's origin with every student's cookies.",
            "Set host_regex to a pattern that matches only the compute nodes' names, run update_ood_portal and "
            "restart Apache.",
            "maintainer",
        ),
        Message(
            "project-missing",
            "No Atelier project was found at {where}: a project is the folder that holds workflows/pin.yaml.",
            "Run atelier from the project's folder, or source the semester's atelier.env, which names it in "
            "ATELIER_PROJECT.",
            "maintainer",
            2,
        ),
        Message(
            "unexpected",
            "Something went wrong inside atelier ({error}).",
            "Run the same command again with --debug and send what it prints to your course's support contact.",
            "student",
        ),
        Message(
            "unexpected-logged",
            "Something went wrong inside atelier ({error}).",
            "The details are in {log}; send that file to your course's support contact.",
            "student",
        ),
        Message(
            "lint-custom-node-licence",
            "{file}: the workflow uses {nodes} from the custom node {name}, but module.yaml does not say "
            "where that node is from and what its licence is.",
            "Add it under custom_nodes in module.yaml, with its "
            "name, repository and licence as its repository states it.",
            "instructor",
        ),
        Message(
            "lint-custom-node-pin",
            "{file} needs the custom node {name}; the node list was made from its commit {commit}, but the "
            "semester pin {pinned}.",
            "Pin that commit in workflows/pin.yaml, or install the pinned commit and run 'atelier nodes' again.",
            "maintainer",
        ),
        Message(
            "tool-missing",
            "The tool '{name}' has no declaration: {file} was not found.",
            "Each tool the semester pin names under tools needs a folder tools/<name>/ with a tool.yaml; the "
            "Runbook page 'Tools beside ComfyUI, and adding one' shows how.",
            "maintainer",
            2,
        ),
        Message(
            "tool-field",
            "{file}: '{field}' {problem}.",
            "Fix that field; the Runbook page 'Tools beside ComfyUI, and adding one' explains each one.",
            "maintainer",
            2,
        ),
        Message(
            "tool-unknown",
            "There is no tool '{name}' this semester.",
            "Give one of the semester's tools: {known}.",
            "student",
            2,
        ),
        Message(
            "tool-not-installed",
            "{title} is not installed here: {python} was not found.",
            "Run 'atelier install' (it installs every tool of the semester pin), or ask your course's support "
            "contact to.",
            "student",
        ),
        Message(
            "tool-start-failed",
            "{title} did not start: {reason}.",
            "Start a new session; if it fails again, send {log} to your course's support contact.",
            "student",
        ),
        Message(
            "tool-gate-open",
            "{title} answered a request without the session key, so it was stopped: its port must be reachable "
            "only through the gate.",
            "Check that tools/{name}/tool.yaml starts it on 127.0.0.1 and its port, not on another address.",
            "maintainer",
        ),
    ]
}


def _message(code: str, values: dict[str, object]) -> Message:
    """The registered message for `code`, checked to have every value it names."""
    if code not in MESSAGES:
        raise KeyError(f"message code {code!r} is not in the catalogue")
    message = MESSAGES[code]
    missing = message.fields() - values.keys()
    if missing:
        raise KeyError(f"message {code!r} needs {sorted(missing)}")
    return message


@dataclass(frozen=True)
class Finding:
    """A problem reported alongside others (lint), rather than raised."""

    code: str
    values: dict[str, object]
    warning: bool = False

    def __post_init__(self) -> None:
        _message(self.code, self.values)

    @property
    def text(self) -> str:
        return MESSAGES[self.code].text.format(**self.values)

    @property
    def hint(self) -> str:
        return MESSAGES[self.code].hint.format(**self.values)

    def __str__(self) -> str:
        return f"{self.text} {self.hint}"


def plural(count: int, word: str) -> str:
    """ "1 picture", "2 pictures": the one way counts are written in what people read."""
    return f"{count} {word}{'' if count == 1 else 's'}"


class AtelierError(Exception):
    """The single error type: a registered code plus the values its templates name."""

    def __init__(self, code: str, **values: object) -> None:
        self.message = _message(code, values)
        self.values = values
        super().__init__(self.text)

    @property
    def code(self) -> str:
        return self.message.code

    @property
    def exit_code(self) -> int:
        return self.message.exit_code

    @property
    def text(self) -> str:
        return self.message.text.format(**self.values)

    @property
    def hint(self) -> str:
        return self.message.hint.format(**self.values)

    def __str__(self) -> str:
        return f"{self.text} {self.hint}"
