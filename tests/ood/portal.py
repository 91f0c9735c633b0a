"""Open OnDemand's own reverse proxy, for the `ood` tier.

A student reaches ComfyUI through the dashboard's Apache, whose vhost a site generates
with ood-portal-generator and whose /node and /rnode paths mod_ood_proxy's Lua routes to
the compute node. Rather than imitate that proxy, these helpers run the real thing: OOD's
generator (from `OOD_DIR`) writes the vhost from an ood_portal.yml, as a site's
`update_ood_portal` does, and Debian's apache2 serves it with mod_ood_proxy's Lua, from
its own configuration in a temporary folder, on 127.0.0.1 only. Basic auth stands in for
the site's single sign-on. Nothing in /etc is read or changed, and no PUN is started.
"""

from __future__ import annotations

import base64
import grp
import http.client
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

import yaml

from tests.conftest import find_daemon, free_port

OOD_DIR = Path(os.environ["OOD_DIR"]) if os.environ.get("OOD_DIR") else None
MODULES = Path("/usr/lib/apache2/modules")  # Debian's apache2-bin
APACHE = find_daemon("apache2")
HTPASSWD = shutil.which("htpasswd")  # apache2-utils, which apache2 depends on
RUBY = shutil.which("ruby")
DEBIAN_PACKAGES = ("apache2", "ruby", "ruby-dotenv", "ruby-bcrypt", "lua-posix")
_INSTALL = f"apt-get install {' '.join(DEBIAN_PACKAGES)}"

NO_OOD = (
    "OOD_DIR is not set to an Open OnDemand checkout (github:OSC/ondemand, kept outside this repository): "
    "the ood tier runs its ood-portal-generator and mod_ood_proxy"
)
NO_APACHE = f"Debian's apache2 (with htpasswd) not found: the ood tier runs OOD's proxy in it ({_INSTALL})"
NO_RUBY = f"Ruby not found: OOD's ood-portal-generator is Ruby ({_INSTALL})"
NO_RUBY_GEMS = "ood-portal-generator needs Ruby's dotenv and bcrypt: apt-get install ruby-dotenv ruby-bcrypt"
NO_LUA_POSIX = "mod_ood_proxy's user mapping needs lua-posix for Apache's Lua 5.3: apt-get install lua-posix"
NOT_ROOT = (
    "the ood tier runs Apache (which starts as root and serves as www-data) and adds a TEST-NET "
    "address to lo, which needs root: run ./dev test as root"
)

NODE_ADDRESS = "192.0.2.10"  # TEST-NET-1 (RFC 5737) on lo: a "compute node" address that is never a real host
HOST_REGEX = r"192\.0\.2\.\d+"
USERS: dict[str, str] = {"student": "student-password", "other": "other-password"}  # stand-ins for SSO accounts
STATIC_URI = "/public"  # OOD's own unauthenticated Alias; /pun can't serve files here (its Lua wants a PUN)
START_TIMEOUT = 20.0

# Debian 12's ruby-dotenv (2.4) predates Dotenv.parse, which the generator calls to read
# /etc/os-release; this adds it, and does nothing where the installed dotenv has it.
DOTENV_PARSE = """\
require 'dotenv'
unless Dotenv.respond_to?(:parse)
  module Dotenv
    def self.parse(*filenames)
      filenames.each_with_object({}) { |name, values| values.update(Dotenv::Environment.new(name, false)) }
    end
  end
end
"""

# Every module the generated vhost uses (SetEnv is mod_env; AuthType and AuthName are mod_authn_core).
MODULE_NAMES = (
    "mpm_event",
    "authn_core",
    "authn_file",
    "authz_core",
    "authz_user",
    "auth_basic",
    "alias",
    "dir",
    "env",
    "headers",
    "lua",
    "mime",
    "proxy",
    "proxy_http",
    "proxy_wstunnel",
    "rewrite",
    "setenvif",
)


def _server_user() -> str:
    """The unprivileged user Apache's children run as: it must be able to read the folder."""
    for name in ("www-data", "nobody"):
        try:
            return pwd.getpwnam(name).pw_name
        except KeyError:
            continue
    raise RuntimeError("neither www-data nor nobody exists for Apache's children to run as")


def _ruby_gems_missing() -> bool:
    result = subprocess.run(
        [RUBY or "ruby", "-e", "require 'dotenv'; require 'bcrypt'"], capture_output=True, check=False
    )
    return result.returncode != 0


def _lua_posix_missing() -> bool:
    return not any(Path("/usr/lib").glob("*/lua/5.3/posix*"))


def skip_reason() -> str | None:
    """Why OOD's proxy can't run here, or None if it can."""
    if OOD_DIR is None or not (OOD_DIR / "ood-portal-generator" / "bin" / "generate").is_file():
        return NO_OOD
    if os.geteuid() != 0:
        return NOT_ROOT
    if not APACHE or not HTPASSWD or not (MODULES / "mod_lua.so").is_file():
        return NO_APACHE
    if not RUBY:
        return NO_RUBY
    if _ruby_gems_missing():
        return NO_RUBY_GEMS
    if _lua_posix_missing():
        return NO_LUA_POSIX
    return None


def add_loopback_address(addr: str = NODE_ADDRESS) -> str:
    """Put `addr` on lo (once), so the proxy reaches a "node" that is not 127.0.0.1.

    mod_ood_proxy only forwards to hosts matching host_regex, and a real node is never
    localhost; a TEST-NET address on lo keeps the traffic on this machine.
    """
    shown = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=True)
    if f"inet {addr}/" not in shown.stdout:
        subprocess.run(["ip", "addr", "add", f"{addr}/32", "dev", "lo"], capture_output=True, text=True, check=True)
    return addr


def portal_settings(
    folder: Path,
    port: int,
    *,
    host_regex: str = HOST_REGEX,
    custom_vhost_directives: Sequence[str] = (),
    user_map: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The ood_portal.yml a test portal uses, as a site would write it, with these choices.

    `user_map` (authenticated user -> local user) goes through OOD's own
    ood_auth_map.mapfile as user_map_cmd; without it, OOD's default user_map_match
    ('.*': the authenticated name is the local name) is used.
    """
    assert OOD_DIR, NO_OOD
    settings: dict[str, object] = {
        "listen_addr_port": f"127.0.0.1:{port}",
        "servername": "127.0.0.1",
        "port": port,
        # A site's default is its own origin (on 443, so without a port); ours has a port.
        "security_csp_frame_ancestors": f"http://127.0.0.1:{port}",
        "logroot": str(folder / "logs"),
        "errorlog": "error.log",
        "accesslog": "access.log",
        "lua_root": str(OOD_DIR / "mod_ood_proxy" / "lib"),
        "lua_log_level": "info",
        "host_regex": host_regex,
        "node_uri": "/node",
        "rnode_uri": "/rnode",
        "auth": [
            "AuthType Basic",
            'AuthName "Open OnDemand (test)"',
            "AuthBasicProvider file",
            f'AuthUserFile "{folder / "htpasswd"}"',
            "Require valid-user",
        ],
        "public_uri": STATIC_URI,
        "public_root": str(folder / "public"),
        # No PUNs here: a /pun request fails at once (404) instead of retrying nginx_stage.
        "pun_max_retries": 1,
    }
    if custom_vhost_directives:
        settings["custom_vhost_directives"] = list(custom_vhost_directives)
    if user_map is not None:
        mapfile = folder / "grid-mapfile"
        mapfile.write_text("".join(f'"{remote}" {local}\n' for remote, local in user_map.items()))
        settings["user_map_cmd"] = f"{OOD_DIR / 'ood_auth_map' / 'bin' / 'ood_auth_map.mapfile'} --file={mapfile}"
    else:
        settings["user_map_match"] = ".*"
    return settings


def generate(ood_portal: Mapping[str, object], folder: Path) -> Path:
    """Write ood_portal.yml in `folder` and run OOD's generator on it; return the vhost config.

    The text is the generator's own output, unedited, so the tests see what a site's
    Apache would serve.
    """
    assert OOD_DIR, NO_OOD
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "ood_portal.yml"
    config.write_text(yaml.safe_dump(dict(ood_portal), sort_keys=False))
    shim = folder / "dotenv_parse.rb"
    shim.write_text(DOTENV_PARSE)
    vhost = folder / "ood-portal.conf"
    env = {**os.environ, "RUBYOPT": f"-r{shim}", "OOD_PROFILE": str(folder / "no-profile")}
    result = subprocess.run(
        [str(OOD_DIR / "ood-portal-generator" / "bin" / "generate"), "-c", str(config), "-o", str(vhost)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if result.returncode != 0 or not vhost.is_file():
        raise RuntimeError(f"ood-portal-generator failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return vhost


def write_htpasswd(path: Path, users: Mapping[str, str]) -> None:
    """bcrypt entries from Apache's own htpasswd (password on stdin, never in argv)."""
    path.unlink(missing_ok=True)
    for name, password in users.items():
        flags = "-iB" if path.exists() else "-ciB"
        subprocess.run(
            [HTPASSWD or "htpasswd", flags, str(path), name], input=password, text=True, capture_output=True, check=True
        )
    path.chmod(0o644)


def httpd_conf(folder: Path, vhost: Path) -> str:
    """The server config around the generated vhost: Debian's modules, everything else in `folder`."""
    user = _server_user()
    loads = "\n".join(f"LoadModule {name}_module {MODULES / f'mod_{name}.so'}" for name in MODULE_NAMES)
    mime = "TypesConfig /etc/mime.types" if Path("/etc/mime.types").is_file() else ""
    return f"""\
ServerRoot "{folder}"
DefaultRuntimeDir "{folder / "run"}"
PidFile "{folder / "run" / "httpd.pid"}"
Mutex file:{folder / "run"} default
ErrorLog "{folder / "logs" / "server_error.log"}"
LogLevel warn
{loads}
User {user}
Group {_group_of(user)}
ServerName 127.0.0.1
ServerSignature Off
ServerTokens Prod
{mime}
DocumentRoot "{folder / "htdocs"}"
<Directory />
  AllowOverride None
  Require all denied
</Directory>
<Directory "{folder / "htdocs"}">
  Require all granted
</Directory>
Include "{vhost}"
"""


def _group_of(user: str) -> str:
    return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


class Portal:
    """OOD's proxy in Debian's apache2 on 127.0.0.1:<free port>, as a context manager.

    `url` is the portal's origin; `rnode(host, port, path)` is the URL a session card
    links to; `static(name, html)` serves a page from the same origin, as the dashboard's
    page with the session card would be. `error_log` has Apache's and mod_ood_proxy's log.
    """

    def __init__(
        self,
        *,
        host_regex: str = HOST_REGEX,
        custom_vhost_directives: Sequence[str] = (),
        users: Mapping[str, str] = USERS,
        user_map: Mapping[str, str] | None = None,
        settings: Mapping[str, object] | None = None,
        keep: bool = False,
    ) -> None:
        # Our own folder under /tmp: pytest's tmp_path is under a 0700 folder www-data can't enter.
        self.folder = Path(tempfile.mkdtemp(prefix="atelier-ood-portal-"))
        self.users = dict(users)
        self.keep = keep
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._final_log = ""
        try:
            for sub in ("", "logs", "run", "htdocs", "public"):
                (self.folder / sub).mkdir(exist_ok=True)
                (self.folder / sub).chmod(0o755)
            self.ood_portal = portal_settings(
                self.folder,
                self.port,
                host_regex=host_regex,
                custom_vhost_directives=custom_vhost_directives,
                user_map=user_map,
            )
            self.ood_portal.update(settings or {})
            self.vhost = generate(self.ood_portal, self.folder)
            write_htpasswd(self.folder / "htpasswd", self.users)
            self.conf = self.folder / "httpd.conf"
            self.conf.write_text(httpd_conf(self.folder, self.vhost))
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:  # stops whatever ended the block
        self.stop()

    def start(self) -> None:
        """Start apache2 in the foreground and wait until it answers on 127.0.0.1."""
        assert APACHE, NO_APACHE
        with open(self.folder / "logs" / "apache2.out", "wb") as out:
            self.process = subprocess.Popen(
                [APACHE, "-d", str(self.folder), "-f", str(self.conf), "-DFOREGROUND"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"apache2 exited ({self.process.returncode}) at start:\n{self.error_log}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/")
                connection.getresponse().read()
                connection.close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    message = f"apache2 did not answer on {self.url} in {START_TIMEOUT}s:\n{self.error_log}"
                    raise RuntimeError(message) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop apache2 (SIGTERM to the parent stops its children) and remove the folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._final_log = self.error_log
        if not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def error_log(self) -> str:
        """Apache's start-up output, its server log and the vhost's log (where mod_ood_proxy writes)."""
        if not self.folder.is_dir():
            return self._final_log
        parts = []
        for name in ("apache2.out", "server_error.log", "error.log"):
            log = self.folder / "logs" / name
            if log.is_file() and log.stat().st_size:
                parts.append(f"--- {name} ---\n{log.read_text(errors='replace')}")
        return "\n".join(parts)

    @property
    def access_log(self) -> str:
        """The vhost's access log (combined format): which requests reached the portal, with what status."""
        log = self.folder / "logs" / "access.log"
        return log.read_text(errors="replace") if log.is_file() else ""

    def static(self, path: str, html: str) -> str:
        """Serve `html` at /public/<path> on the portal's origin; return its URL."""
        name = path.lstrip("/")
        public = self.folder / "public"
        target = public / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html)
        target.chmod(0o644)
        for folder in Path(name).parents:  # Apache's children (www-data) must enter each one
            (public / folder).chmod(0o755)
        return f"{self.url}{STATIC_URI}/{name}"

    def rnode(self, host: str, port: int, path: str = "/") -> str:
        """The portal URL for `path` on host:port through /rnode (the backend sees `path`)."""
        return f"{self.url}/rnode/{host}/{port}{path}"

    def node(self, host: str, port: int, path: str = "/") -> str:
        """The portal URL through /node (the backend sees the whole /node/host/port path)."""
        return f"{self.url}/node/{host}/{port}{path}"

    def authorization(self, user: str = "student") -> str:
        """The Authorization header value for one of `users`."""
        token = base64.b64encode(f"{user}:{self.users[user]}".encode()).decode()
        return f"Basic {token}"
