"""CI's stand-in for what Open OnDemand does with the app when a student presses Launch.

OOD's code cannot run in CI, so this does the same steps the same way, and tests/ood
holds it to OOD's own classes wherever they run (the same staged files, modes and
sbatch arguments):

* staging (the dashboard's Session#stage): template/ is copied without its .erb files,
  each .erb is rendered beside them with the .erb's own file mode (so a script.sh.erb
  that is not executable gives a script.sh that cannot run), and the form's values are
  kept in user_defined_context.json;
* the job script (ood_core's "basic" template): helpers, `host=$(hostname)`, before.sh
  sourced, script.sh run directly in the background, after.sh sourced, connection.yml,
  wait, clean_up (which sources clean.sh); the steps are the lines `STEPS` names;
* submission (ood_core's Slurm adapter): the script on sbatch's standard input with
  `--export NONE`, so nothing of the submitting process's environment reaches the job.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.erb import rendered

JOB_NAME = "sys/dashboard/sys/comfyui"  # OOD names a job after the dashboard and the app's path


def stage(app: Path, site_file: Path, values: dict[str, str], staged: Path) -> Path:
    """Copy and render the app's template/ into `staged`, as the dashboard does."""
    template = app / "template"
    staged.mkdir(mode=0o700, parents=True, exist_ok=True)
    for source in template.rglob("*"):
        target = staged / source.relative_to(template)
        if source.is_dir():
            target.mkdir(exist_ok=True)
        elif source.suffix != ".erb":
            shutil.copy2(source, target)  # content and mode, as rsync -rlp
    for source in template.rglob("*.erb"):
        target = staged / source.relative_to(template).with_suffix("")
        target.write_text(rendered(str(source.relative_to(app)), site_file, app=app, **values), encoding="utf-8")
        target.chmod(source.stat().st_mode & 0o7777)
    (staged / "user_defined_context.json").write_text(json.dumps(values, indent=2), encoding="utf-8")
    return staged


def submit_options(app: Path, site_file: Path, values: dict[str, str]) -> dict[str, Any]:
    """submit.yml.erb as the dashboard renders it for these values."""
    return yaml.safe_load(rendered("submit.yml.erb", site_file, app=app, **values))


def job_script(staged: Path, min_port: int = 2000, max_port: int = 65535) -> str:
    """The wrapper the basic template writes around before.sh, script.sh and after.sh."""
    return f"""#!/bin/bash
cd {staged}
export host
export port
clean_up() {{
  echo "Cleaning up..."
  [[ -e "{staged}/clean.sh" ]] && source "{staged}/clean.sh"
  [[ ${{SCRIPT_PID}} ]] && pkill -P "${{SCRIPT_PID}}" || :
  pkill -P $$
  exit "${{1:-0}}"
}}
port_used() {{
  local host=${{1%:*}} port=${{1##*:}}
  [[ "$host" == "$1" ]] && host=localhost
  (: < "/dev/tcp/$host/$port") >/dev/null 2>&1
}}
find_port() {{
  local host="${{1:-localhost}}" port
  local min_port=${{2:-{min_port}}}
  local max_port=${{3:-{max_port}}}
  for port in $(shuf -i "$min_port-$max_port"); do
    port_used "$host:$port" || {{ echo "$port"; return 0; }}
  done
  echo "error: failed to find available port in range $min_port..$max_port" >&2
  return 1
}}
wait_until_port_used() {{
  local i
  for ((i = 1; i <= ${{2:-30}} * 2; i++)); do port_used "$1" && return 0; sleep 0.5; done
  return 1
}}
create_passwd() (
  set +o pipefail
  tr -cd 'a-zA-Z0-9' < /dev/urandom 2> /dev/null | head -c"${{1:-8}}"
)
export -f port_used find_port wait_until_port_used create_passwd
host=$(hostname)
[[ -e "{staged}/before.sh" ]] && source "{staged}/before.sh"
echo "Script starting..."
"{staged}/script.sh" &
SCRIPT_PID=$!
[[ -e "{staged}/after.sh" ]] && source "{staged}/after.sh"
echo "Generating connection YAML file..."
( umask 077; echo -e "host: $host\\nport: $port\\npassword: $password" > "connection.yml" )
wait ${{SCRIPT_PID}} || clean_up 1
clean_up
"""


def steps(staged: Path, min_port: int, max_port: int) -> list[str]:
    """The job script's lines that decide what happens, in order: OOD's script has them too."""
    return [
        f'[[ -e "{staged}/clean.sh" ]] && source "{staged}/clean.sh"',
        f"local min_port=${{2:-{min_port}}}",
        f"local max_port=${{3:-{max_port}}}",
        "host=$(hostname)",
        f'[[ -e "{staged}/before.sh" ]] && source "{staged}/before.sh"',
        f'"{staged}/script.sh" &',
        f'[[ -e "{staged}/after.sh" ]] && source "{staged}/after.sh"',
        "wait ${SCRIPT_PID} || clean_up 1",
    ]


def sbatch_args(submit: dict[str, Any], staged: Path, job_name: str = JOB_NAME) -> list[str]:
    """sbatch's arguments as ood_core's Slurm adapter builds them (the script goes on stdin)."""
    seconds = int(submit["script"]["wall_time"])
    wall = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return [
        "-D",
        str(staged),
        "-J",
        job_name,
        "-o",
        str(staged / "output.log"),
        "-t",
        wall,
        "--export",
        "NONE",
        *submit["script"].get("native", []),
        "--parsable",
    ]


def submit(
    staged: Path, submit_opts: dict[str, Any], env: dict[str, str], min_port: int = 2000, max_port: int = 65535
) -> str:
    """Submit the staged session as OOD would; returns the job id."""
    script = job_script(staged, min_port, max_port)
    (staged / "job_script_content.sh").write_text(script, encoding="utf-8")
    done = subprocess.run(
        ["sbatch", *sbatch_args(submit_opts, staged)],
        input=script,
        env=env,
        capture_output=True,
        text=True,
        cwd=staged,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(";")[0]
