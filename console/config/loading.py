"""Reading config.toml: the file's bounds, ${NAME} substitution from the environment, TOML errors, validation into a Config."""
from __future__ import annotations

import os
import re
import stat
import tomllib
import typing
from pathlib import Path

import platformdirs
from pydantic import ValidationError

from ..secrets import mask_text, mask_url, register_secret
from .explain import explain_error, describe_loc
from .models import Config
from .notify import notify_secrets
from .toml_lines import line_index
from .values import check_db_url

class ConfigError(Exception):
    """A bad config file, as one message for the operator (exit code 2)."""


def default_config_path() -> Path | None:
    here = Path("config.toml")
    if here.is_file():
        return here
    xdg = Path(platformdirs.user_config_dir("gonogo")) / "config.toml"
    if xdg.is_file():
        return xdg
    return None


def load_config(path: Path | str | None = None, *, env: typing.Mapping[str, str] | None = None) -> Config:
    """Read, validate and return the config. Raises ConfigError with one clear
    paragraph; `GONOGO_DATABASE_URL` (from `env`, default os.environ) overrides
    `database.url`."""
    env = os.environ if env is None else env
    if path is None:
        path = default_config_path()
        if path is None:
            raise ConfigError(
                "no config file: none given with --config, no ./config.toml and none at "
                f"{Path(platformdirs.user_config_dir('gonogo')) / 'config.toml'}. "
                "Try `gonogo demo`, or copy the repository's config.toml."
            )
    path = Path(path)
    text = _read_config_text(path)
    deep = _too_deep_at(text)
    if deep is not None:
        raise ConfigError(_too_deep_error(path, text, *deep))
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(_toml_error(path, text, e)) from None
    except RecursionError:  # the scan above should have caught it; never a traceback
        raise ConfigError(f"{path}: nested too deeply to read (more than {MAX_NESTING} levels of [ ] and {{ }})") from None
    templates = _substitute_env(raw, env, path=path, text=text)
    override = env.get("GONOGO_DATABASE_URL")
    if override:
        try:
            check_db_url(override)
        except ValueError as e:
            raise ConfigError(f"GONOGO_DATABASE_URL (overrides [database] url in {path}): {mask_text(str(e))}") from None
        if "database" not in raw:
            raw["database"] = {}
        if isinstance(raw["database"], dict):
            raw["database"]["url"] = override
    return parse_config(raw, path=path, text=text, env_templates=templates)


MAX_CONFIG_BYTES = 1024 * 1024
MAX_NESTING = 32  # levels of [ ] and { }; no key of the schema uses more than 3
_FILE_KINDS = [(stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]


def _read_config_text(path: Path) -> str:
    """The file's text: a regular file of at most 1 MiB of UTF-8. A device
    (`/dev/zero`), a pipe or a directory is refused before anything is read from
    it, and the read itself stops at 1 MiB + 1 byte."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not hang the command.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file; give the path of a .toml file") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read it (permission denied)") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror or e})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{path}: is a directory, not a config file; give the path of a .toml file")
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
        raise ConfigError(f"{path}: is {kind}, not a regular file; give the path of a .toml file")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(MAX_CONFIG_BYTES + 1)
        except OSError as e:
            raise ConfigError(f"{path}: cannot read it ({e.strerror or e})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: too large: a config file is at most 1 MiB ({MAX_CONFIG_BYTES} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: cannot read it: not UTF-8 text (byte {e.start})") from None


# Strings and comments (skipped), brackets and braces (counted), newlines (for the
# line number). Unterminated strings are left to tomllib to report.
_NESTING_TOKENS = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"{3,5}'
    r"|'''[\s\S]*?'{3,5}"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'[^'\n]*'"
    r"|#[^\n]*"
    r"|[\[\]{}\n]"
)


def _too_deep_at(text: str, limit: int = MAX_NESTING) -> tuple[int, int] | None:
    """(line, column) where [ ] / { } nesting first goes past `limit`, else None.
    tomllib recurses once per level, so 100 000 `[` would end in a RecursionError."""
    depth, line, line_start = 0, 1, 0
    for m in _NESTING_TOKENS.finditer(text):
        token = m.group(0)
        if token in "[{":
            depth += 1
            if depth > limit:
                return line, m.start() - line_start + 1
        elif token in "]}":
            depth = max(depth - 1, 0)
        elif "\n" in token:
            line += token.count("\n")
            line_start = m.start() + token.rindex("\n") + 1
    return None


def _too_deep_error(path: Path, text: str, line: int, column: int) -> str:
    """Name the key being written where the nesting goes too deep (the last key
    at or before that line), like every other config error."""
    index = {loc: n for loc, n in line_index(text).items() if n <= line and loc and isinstance(loc[-1], str)}
    loc = max(index, key=index.__getitem__) if index else ()
    where = describe_loc(loc, {}, text) if loc else f"top level (line {line})"
    at = f"column {column}" if loc and index[loc] == line else f"line {line}, column {column}"
    return mask_text(
        f"{path}: {where}: nested more than {MAX_NESTING} levels of [ ] and {{ }} deep (at {at}); "
        "no setting is nested more than 3"
    )


_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")


def _substitute_env(raw: dict, env: typing.Mapping[str, str], *, path: Path, text: str) -> dict[str, str]:
    """Replace `${NAME}` in every string value of the parsed document (in place:
    the document is this load's own) with the environment variable NAME; `$${` is a
    literal `${`. Every value taken from the environment is registered as a secret.
    Returns {substituted string: the string as written}, so that an error can show
    what the file says instead of the value."""
    templates: dict[str, str] = {}
    todo: list[tuple[dict | list, str | int, tuple]] = [(raw, k, (k,)) for k in raw]
    while todo:  # a loop, not recursion: a dotted key can nest tables thousands deep
        parent, key, loc = todo.pop()
        value = parent[key]  # type: ignore[index]
        if isinstance(value, dict):
            todo.extend((value, k, loc + (k,)) for k in value)
        elif isinstance(value, list):
            todo.extend((value, i, loc + (i,)) for i in range(len(value)))
        elif isinstance(value, str) and "${" in value:
            new = _expand(value, env, lambda msg: ConfigError(mask_text(f"{path}: {describe_loc(loc, raw, text)}: {msg}")))
            if new != value:
                parent[key] = new  # type: ignore[index]
                templates[new] = value
    return templates


def _expand(value: str, env: typing.Mapping[str, str], error: typing.Callable[[str], ConfigError]) -> str:
    def one(m: re.Match) -> str:
        if m.group(0) == "$${":
            return "${"
        name = m.group(1)
        if name is None:
            raise error('"${" must start a reference like ${GONOGO_HOOK_TOKEN} (write $${ for a literal ${)')
        if name not in env:
            raise error(f"environment variable {name} is not set")
        register_secret(env[name])
        return env[name]

    return _ENV_REF.sub(one, value)


def _unexpand(msg: str, templates: typing.Mapping[str, str]) -> str:
    """Put back the `${NAME}` the file wrote wherever an error message quotes a
    value taken from the environment (as is, repr-escaped or as a masked URL)."""
    forms: dict[str, str] = {}
    for value, template in templates.items():
        for form in (value, repr(value)[1:-1], mask_url(value)):
            if form and form not in (template, mask_url(template)):
                forms.setdefault(form, template)
    for form in sorted(forms, key=len, reverse=True):
        msg = msg.replace(form, forms[form])
    return msg


def _toml_error(path: Path, text: str, e: tomllib.TOMLDecodeError) -> str:
    msg = str(e)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
    if not m:
        m2 = re.search(r"\s*\(at end of document\)$", msg)
        reason = msg[: m2.start()] if m2 else msg
        return f"{path}: not valid TOML (at the end of the file): {reason}"
    line_no, col = int(m.group(1)), int(m.group(2))
    reason = msg[: m.start()]
    lines = text.splitlines()
    shown = hint = ""
    if 0 < line_no <= len(lines) and lines[line_no - 1].strip():
        line = lines[line_no - 1]
        shown = f" in `{mask_text(line.strip())[:120]}`"
        bare = re.match(r"^\s*([A-Za-z0-9_-]+)\s*=\s*([^\s\"'\[{#][^#]*?)\s*(?:#.*)?$", line)
        if bare and not re.fullmatch(r"true|false|[-+]?[\d_.eE:T+-]+|[-+]?(inf|nan)", bare.group(2)):
            hint = f' (a string needs quotes: {bare.group(1)} = "{mask_text(bare.group(2))}")'
    return f"{path}: not valid TOML (line {line_no}, column {col}): {reason}{shown}{hint}"


def parse_config(
    raw: dict, *, path: Path | str = "config.toml", text: str = "", env_templates: typing.Mapping[str, str] | None = None
) -> Config:
    """Validate an already-parsed TOML document; `text` (the file's text) is only
    used to find line numbers for the message, `env_templates` (substituted value →
    as written) to show `${NAME}` rather than a value from the environment. Every
    header value is registered as a secret."""
    try:
        config = Config.model_validate(raw)
    except ValidationError as e:
        errors = e.errors()
        loc, msg = explain_error(errors[0], raw)
        more = f" ({len(errors) - 1} more problem(s) after this one)" if len(errors) > 1 else ""
        message = f"{path}: {describe_loc(loc, raw, text)}: {msg}{more}"
        raise ConfigError(mask_text(_unexpand(message, env_templates or {}))) from None
    for value in _header_values(config):
        register_secret(value)
    return config


def _header_values(config: Config) -> list[str]:
    sections = [*config.targets, config.prometheus, config.alertmanager, config.actuator]
    return [v for s in sections for v in s.headers.values()] + notify_secrets(config.notify)


def packaged_config() -> Config:
    """The demo's own config: the repository's config.toml, shipped in the package as
    console/default_config.toml, for a demo started where no config file is."""
    import tomllib
    from importlib import resources

    text = resources.files("console").joinpath("default_config.toml").read_text()
    return parse_config(tomllib.loads(text), path="(built-in demo config)", text=text)
