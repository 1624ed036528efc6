# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release package: its standard layout, config rendering, lint and deterministic build.

    release/target/...                    the program; becomes the release folder that ``path`` links to
    release/deploy/config.template.yml    base + one section per env; "$<x>" = cluster value, "${x}" = config key
    release/deploy/init.yml               files to produce from templates
    release/deploy/templates/...          Jinja2 (.j2) or ERB-subset (.erb) templates

Everything here runs on the controller (the ``noops`` CLI, Odin's package check and the ``release_render``
action). The host's part of the package - the layout names, ``check_tar_members`` and the unpack of
``release/target/`` by the ``release`` module - is ``module_utils/package_tar.py`` (standard library only).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import traceback
import typing as t

from ansible_collections.noops.platform.plugins.module_utils.package_tar import (
    ERROR, RELEASE_DIR, TARGET_DIR, WARNING, PackageError, Problem, check_tar_members, extract_members, is_root_entry,
)
from ansible_collections.noops.platform.plugins.module_utils.redact import is_secret_name, mask_urls
from ansible_collections.noops.platform.plugins.plugin_utils import yaml_file
from ansible_collections.noops.platform.plugins.plugin_utils.erb import ErbError, erb_names, render_erb

DEPLOY_DIR = "release/deploy"
CONFIG_FILE = "release/deploy/config.template.yml"
INIT_FILE = "release/deploy/init.yml"
TEMPLATES_DIR = "release/deploy/templates"
# Logs and data live under data_path, never in the program tree (a rollback must not take them along).
FORBIDDEN_TARGET_DIRS = ("log", "logs", "data", "dict")
DEFAULT_START = "bin/run.sh"
DEFAULT_STOP = "bin/stop.sh"
JINJA_SUFFIXES = (".j2", ".jinja2", ".jinja")
TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
DEFAULT_MODE = 0o644
SECRET_MODE = 0o640
# A secret file loses group write and every "other" bit: 0644 -> 0640, 0755 -> 0750, 0600 stays.
SECRET_MODE_MASK = 0o027
# Secret values shorter than this are not searched for in rendered text: "1" would mark every file secret.
MIN_SECRET_LEN = 4
ENTRY_FIELDS = frozenset(("name", "type", "source", "mode", "owner"))
# init.yml entry fields are text as written: `mode: 640` and `mode: 0640` both reach parse_mode as octal digits,
# `owner: 1000` is the text "1000". Entries are one level down: a mapping id -> entry, or a list of entries.
INIT_FIELDS = yaml_file.depth_fields({2: {k: yaml_file.TEXT for k in ENTRY_FIELDS | {"id"}}})


def secrets_to_mask(values: t.Mapping[str, t.Any], config: ResolvedConfig | None = None) -> list[str]:
    """The secret strings a result or message must not show: secret-named cluster values and secret config."""
    found = set(config.secret_values()) if config else set()
    for name, value in values.items():
        if is_secret_name(name) and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            if len(str(value)) >= MIN_SECRET_LEN:
                found.add(str(value))
    return sorted(found, key=len, reverse=True)     # longest first: a dsn before the password inside it


def mask(obj: t.Any, secrets: t.Sequence[str], replacement: str = "********") -> t.Any:
    """``obj`` (str, list, dict) with every occurrence of every secret, and every URL password, replaced."""
    if isinstance(obj, str):
        for secret in secrets:
            obj = obj.replace(secret, replacement)
        return mask_urls(obj)
    if isinstance(obj, dict):
        return {mask(k, secrets, replacement): mask(v, secrets, replacement) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [mask(v, secrets, replacement) for v in obj]
    return obj


# --------------------------------------------------------------------------- config.template.yml

# "$$<" and "$${" escape a literal "$<" / "${"; spaces inside the brackets are tolerated ("$< user >").
_REF = re.compile(r"\$\$(?=[<{])|\$<\s*([^<>]*?)\s*>|\$\{\s*([^{}]*?)\s*\}")


def merge_config(doc: t.Any, env: str, source: str) -> dict[str, t.Any]:
    """``base`` deep-merged with the ``env`` section (the env wins); an env without a section is an error."""
    if not isinstance(doc, dict):
        raise PackageError(source, "must be a mapping with a 'base' section, not %s" % type(doc).__name__)
    if not isinstance(doc.get("base"), dict):
        raise PackageError(source, "section 'base' is missing or not a mapping")
    if env not in doc:
        sections = ", ".join(sorted(str(k) for k in doc if k != "base")) or "none"
        raise PackageError(source, "env '%s' has no section (sections: %s)" % (env, sections))
    section = doc[env]
    if section is None:             # "staging:" with nothing below it: the env only uses base
        section = {}
    if not isinstance(section, dict):
        raise PackageError(source, "section '%s' must be a mapping, not %s" % (env, type(section).__name__))
    for key in list(doc["base"]) + list(section):
        if not isinstance(key, str):
            raise PackageError(source, "key %r is not a string (quote it)" % (key,))
    return _deep_merge(doc["base"], section)


def _deep_merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class ResolvedConfig(t.NamedTuple):
    values: dict[str, t.Any]
    secret_keys: frozenset[str]

    def secret_values(self) -> list[str]:
        """The secret values long enough to search for in rendered text."""
        found = []
        for key in self.secret_keys:
            value = self.values.get(key)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                text = str(value)
                if len(text) >= MIN_SECRET_LEN:
                    found.append(text)
        return found

    def public(self) -> dict[str, t.Any]:
        """The config with every secret value hidden (safe to log or return)."""
        return {k: ("<secret>" if k in self.secret_keys else v) for k, v in self.values.items()}


class _Resolver:
    """Resolves "$<x>" from cluster values and "${x}" from other keys, recursively, once per key."""

    def __init__(self, merged: dict[str, t.Any], values: t.Mapping[str, t.Any], source: str) -> None:
        self.merged = merged
        self.values = values
        self.source = source
        self.done: dict[str, t.Any] = {}
        self.secret: dict[str, bool] = {}
        self.stack: list[str] = []

    def key(self, name: str) -> t.Any:
        if name in self.done:
            return self.done[name]
        if name in self.stack:
            cycle = self.stack[self.stack.index(name):] + [name]
            raise PackageError(self.source, "key '%s': reference cycle %s" % (name, " -> ".join(cycle)))
        self.stack.append(name)
        try:
            secret = [is_secret_name(name)]
            value = self.walk(self.merged[name], "key '%s'" % name, secret)
        finally:
            self.stack.pop()
        self.done[name] = value
        self.secret[name] = secret[0]
        return value

    def walk(self, value: t.Any, label: str, secret: list[bool]) -> t.Any:
        if isinstance(value, str):
            return self.text(value, label, secret)
        if isinstance(value, dict):
            return {k: self.walk(v, label, secret) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, label, secret) for v in value]
        return value

    def text(self, text: str, label: str, secret: list[bool]) -> t.Any:
        """One pass over a string: inserted values are never scanned again, so a password may hold "${"."""
        matches = list(_REF.finditer(text))
        if not matches:
            return text
        parts: list[str] = []
        pos = 0
        for match in matches:
            parts.append(text[pos:match.start()])
            pos = match.end()
            whole = match.start() == 0 and match.end() == len(text)
            if match.group(0) == "$$":
                parts.append("$")
                continue
            value = self.ref(match, label, secret)
            if whole:
                return value        # "$<port>" alone keeps the value's type (an int stays an int)
            if isinstance(value, (dict, list)):
                raise PackageError(self.source, "%s: %s is a %s and cannot be embedded in a string"
                                   % (label, match.group(0), type(value).__name__))
            parts.append("" if value is None else str(value))
        parts.append(text[pos:])
        return "".join(parts)

    def ref(self, match: re.Match, label: str, secret: list[bool]) -> t.Any:
        cluster_name, key_name = match.group(1), match.group(2)
        if not (cluster_name or key_name):
            raise PackageError(self.source, "%s: empty reference '%s'" % (label, match.group(0)))
        if cluster_name is not None:
            try:
                value = self.values[cluster_name]
            except KeyError:
                raise PackageError(self.source, "%s: $<%s> has no value in the cluster (known: %s)"
                                   % (label, cluster_name, ", ".join(sorted(self.values)) or "none")) from None
            if is_secret_name(cluster_name):
                secret[0] = True
            return value
        if key_name not in self.merged and key_name not in self.done:
            raise PackageError(self.source, "%s: ${%s} names no config key" % (label, key_name))
        value = self.key(key_name)
        if self.secret.get(key_name):
            secret[0] = True
        return value


def resolve_config(merged: dict[str, t.Any], values: t.Mapping[str, t.Any], source: str,
                   problems: list[Problem] | None = None) -> ResolvedConfig:
    """Resolve every key. With ``problems`` given, a bad key is recorded there and left out; else raised."""
    resolver = _Resolver(merged, values, source)
    for name in merged:
        try:
            resolver.key(name)
        except PackageError as e:
            if problems is None:
                raise
            problems.append(Problem(ERROR, e.path, e.message))
            resolver.stack.clear()
    return ResolvedConfig(resolver.done, frozenset(k for k, s in resolver.secret.items() if s))


def substitute(text: str, config: ResolvedConfig, values: t.Mapping[str, t.Any], source: str, what: str) -> t.Any:
    """Resolve the references of a string outside the config (an init.yml entry's name)."""
    resolver = _Resolver({}, values, source)
    resolver.done = dict(config.values)
    resolver.secret = {k: k in config.secret_keys for k in config.values}
    return resolver.text(text, what, [False])


# --------------------------------------------------------------------------- init.yml

_TEMPLATE_CALL = re.compile(r"""\s*template\s*\(\s*(["'])(.+?)\1\s*\)\s*\Z""")


class InitEntry(t.NamedTuple):
    id: str             # the mapping key, or "#<n>" for a list item without an id
    name: str           # the destination, unresolved
    type: str           # file, mon, backup, ... carried through for the roles
    template: str       # relative to release/deploy/templates
    engine: str         # "jinja2" or "erb"
    mode: int | None
    owner: str | None


def parse_mode(value: t.Any) -> int:
    """"0640", "640", "0o640" (digits 0-7 are octal) or an int -> int; ValueError if not a mode, if it sets
    the setuid, setgid or sticky bit (a rendered file holds config, maybe secrets, never a program), or if the
    owner could not read the file (``0``, ``0200``).

    init.yml is read with its fields as text (``INIT_FIELDS``), so an unquoted ``mode: 640`` arrives as "640".
    """
    if isinstance(value, bool):
        raise ValueError("not a file mode")
    if isinstance(value, int):
        mode = value
    elif isinstance(value, str) and re.match(r"\A(0o?)?[0-7]{1,4}\Z", value.strip()):
        text = value.strip()
        mode = int(text[2:] if text.startswith("0o") else text, 8)
    else:
        raise ValueError("not an octal file mode")
    if not 0 <= mode <= 0o7777:
        raise ValueError("out of range")
    if mode & 0o7000:
        raise ValueError("setuid, setgid and sticky bits are not allowed on a rendered file; write the "
                         "permission bits alone, e.g. %04o" % (mode & 0o777 | 0o400))
    if not mode & 0o400:
        raise ValueError("the owner could not read the file; give the owner read permission, e.g. 0640")
    return mode


def template_source(source: t.Any) -> tuple[str, str]:
    """``template("x.conf.erb")`` or a bare ``x.conf.j2`` -> (file name, engine)."""
    if not isinstance(source, str) or not source.strip():
        raise ValueError("source must be template(\"x.erb\") or a .j2 file name")
    match = _TEMPLATE_CALL.match(source)
    name = match.group(2).strip() if match else source.strip()
    if name.startswith("/") or ".." in name.split("/") or "\\" in name:
        raise ValueError("template %r must be a relative path inside templates/" % name)
    if name.endswith(".erb"):
        return name, "erb"
    if name.endswith(JINJA_SUFFIXES):
        return name, "jinja2"
    raise ValueError("template %r: unknown kind (expected .erb or .j2)" % name)


def parse_init(doc: t.Any, source: str, problems: list[Problem]) -> list[InitEntry]:
    """Entries from init.yml (a mapping id -> entry as in the old platform, or a list); bad ones go to problems."""
    if doc is None:
        return []
    if isinstance(doc, dict):
        items = [(str(k), v) for k, v in doc.items()]
    elif isinstance(doc, list):
        items = [(str(v.get("id", "#%d" % (i + 1))) if isinstance(v, dict) else "#%d" % (i + 1), v)
                 for i, v in enumerate(doc)]
    else:
        problems.append(Problem(ERROR, source, "must be a mapping of entries or a list, not %s" % type(doc).__name__))
        return []
    entries = []
    for entry_id, raw in items:
        where = "entry '%s'" % entry_id
        if not isinstance(raw, dict):
            problems.append(Problem(ERROR, source, "%s must be a mapping, not %s" % (where, type(raw).__name__)))
            continue
        unknown = sorted(str(k) for k in raw if k not in ENTRY_FIELDS and k != "id")
        if unknown:
            problems.append(Problem(WARNING, source, "%s: unknown field(s) %s ignored" % (where, ", ".join(unknown))))
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem(ERROR, source, "%s: field 'name' is missing or not a string" % where))
            continue
        try:
            template, engine = template_source(raw.get("source"))
        except ValueError as e:
            problems.append(Problem(ERROR, source, "%s: field 'source' %r: %s" % (where, raw.get("source"), e)))
            continue
        mode = None
        if raw.get("mode") is not None:
            try:
                mode = parse_mode(raw["mode"])
            except ValueError as e:
                problems.append(Problem(ERROR, source, "%s: field 'mode' %r: %s" % (where, raw["mode"], e)))
                continue
        owner = raw.get("owner")
        if owner is not None and not isinstance(owner, str):
            problems.append(Problem(ERROR, source, "%s: field 'owner' %r is not a string" % (where, owner)))
            continue
        entries.append(InitEntry(entry_id, name.strip(), str(raw.get("type") or "file"), template, engine, mode, owner))
    return entries


# --------------------------------------------------------------------------- the package on disk

class Package:
    """An unpacked package: ``root`` holds ``release/``; ``label`` is how messages name it."""

    def __init__(self, root: str, label: str | None = None) -> None:
        self.root = root
        self.label = (label or root).rstrip("/")

    def abspath(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def where(self, rel: str) -> str:
        return "%s/%s" % (self.label, rel)

    def read_yaml(self, rel: str) -> t.Any:
        """A package file read with ``yaml_file`` (YAML 1.2; init.yml's entry fields are text as written).

        Raises ``PackageError`` for a missing or invalid file, and for plain values YAML does not read as they
        are written (``country: NO``, ``ratio: 1.10``): its ``problems`` name every one of them.
        """
        try:
            with open(self.abspath(rel), "rb") as f:
                doc, problems = yaml_file.load_yaml(f, self.where(rel), INIT_FIELDS if rel == INIT_FILE else None)
        except FileNotFoundError:
            raise PackageError(self.where(rel), "missing") from None
        except yaml_file.NotUtf8Error as e:
            raise PackageError(self.where(rel), e.problem) from None
        except yaml_file.YamlFileError as e:
            line = " line %d" % e.line if e.line else ""
            raise PackageError(self.where(rel), "YAML error%s: %s" % (line, e.problem)) from e
        except OSError as e:
            raise PackageError(self.where(rel), "cannot read: %s" % e.strerror) from e
        if problems:
            raise PackageError(self.where(rel), problems[0].detail,
                               [Problem(ERROR, self.where(rel), p.detail) for p in problems])
        return doc

    def config_doc(self) -> t.Any:
        return self.read_yaml(CONFIG_FILE)

    def environments(self) -> list[str]:
        doc = self.config_doc()
        return [str(k) for k in doc if k != "base"] if isinstance(doc, dict) else []

    def init_entries(self, problems: list[Problem] | None = None) -> list[InitEntry]:
        found: list[Problem] = []
        entries = parse_init(self.read_yaml(INIT_FILE), self.where(INIT_FILE), found)
        errors = [p for p in found if p.level == ERROR]
        if problems is not None:
            problems.extend(found)
        elif errors:
            raise PackageError(errors[0].path, errors[0].message)
        return entries

    def template_rel(self, name: str) -> str:
        return "%s/%s" % (TEMPLATES_DIR, name)


@contextlib.contextmanager
def open_package(path: str) -> t.Iterator[Package]:
    """A package folder as is, or a tarball checked with ``check_tar_members`` and unpacked to a temp folder."""
    if os.path.isdir(path):
        if not os.path.isdir(os.path.join(path, RELEASE_DIR)):
            raise PackageError(path, "no release/ folder (expected a package folder or a .tar.gz)")
        yield Package(path)
        return
    if not os.path.isfile(path):
        raise PackageError(path, "no such package folder or tarball")
    tmp = tempfile.mkdtemp(prefix="noops-package-")
    try:
        problems = unpack_package(path, tmp)
        errors = [p for p in problems if p.level == ERROR]
        if errors:
            raise PackageError(errors[0].path, errors[0].message)
        yield Package(tmp, label=path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unpack_package(tar_path: str, dest: str) -> list[Problem]:
    """Unpack only the members that pass ``check_tar_members``; return the problems found."""
    try:
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
            problems = check_tar_members(members)
            bad = {p.path for p in problems if p.level == ERROR}
            good = [m for m in members if m.name not in bad and not is_root_entry(m)]
            # The "data" filter, where Python has it, is a second guard with the same intent (no escapes, no
            # devices, sane modes).
            extract_members(tar, tar_path, dest, good)
    except PackageError as e:
        return [Problem(ERROR, e.path, e.message)]
    except (tarfile.TarError, OSError, EOFError) as e:
        return [Problem(ERROR, tar_path, "not a readable tarball: %s" % e)]
    return [Problem(p.level, "%s/%s" % (tar_path, p.path.lstrip("/")), p.message) for p in problems]


# --------------------------------------------------------------------------- rendering

class RenderedFile(t.NamedTuple):
    entry: str          # init.yml entry id
    dest: str           # absolute path on the host
    type: str
    mode: str           # octal string for the host, e.g. "0640"
    owner: str | None
    secret: bool
    template: str
    in_release: bool    # placed in the new release folder (versioned with the program)
    content: str


class Rendered(t.NamedTuple):
    config: ResolvedConfig
    files: list[RenderedFile]


def place(dest: str, path: str | None, release_path: str | None) -> tuple[str, bool]:
    """A destination under ``path`` (the stable symlink) goes into the new release folder instead."""
    if path and release_path:
        base = posixpath.normpath(path)
        if dest == base:
            raise ValueError("is the program path %s itself, not a file below it" % base)
        if dest.startswith(base.rstrip("/") + "/"):
            return posixpath.normpath(release_path) + dest[len(base.rstrip("/")):], True
    return dest, False


def file_mode(requested: int | None, secret: bool) -> str:
    if requested is None:
        mode = SECRET_MODE if secret else DEFAULT_MODE
    else:
        mode = requested & ~SECRET_MODE_MASK if secret else requested
    return "%04o" % mode


def _jinja_env(templates_dir: str) -> t.Any:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    # Sandboxed: templates come with the package, and the controller that renders them holds every secret.
    return SandboxedEnvironment(loader=jinja2.FileSystemLoader(templates_dir), undefined=jinja2.StrictUndefined,
                                keep_trailing_newline=True, autoescape=False)


def _jinja_line(exc: BaseException, filename: str) -> str:
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return " line %d" % line if line else ""


def render_template(pkg: Package, entry: InitEntry, config: ResolvedConfig) -> tuple[str, set[str]]:
    """Render one template with the config; return the text and the names it used."""
    rel = pkg.template_rel(entry.template)
    where = pkg.where(rel)
    try:
        with open(pkg.abspath(rel), encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise PackageError(where, "template missing (named by init.yml entry '%s')" % entry.id) from None
    except (OSError, UnicodeDecodeError) as e:
        raise PackageError(where, "cannot read template: %s" % e) from e
    if entry.engine == "erb":
        try:
            return render_erb(text, config.values, where), set(erb_names(text, where))
        except ErbError as e:
            raise PackageError(where, "line %d: %s" % (e.line, e.message)) from e
    import jinja2
    from jinja2 import meta

    env = _jinja_env(pkg.abspath(TEMPLATES_DIR))
    try:
        names = meta.find_undeclared_variables(env.parse(text))
        template = env.get_template(entry.template)
        return template.render(config.values), set(names)
    except jinja2.TemplateSyntaxError as e:
        raise PackageError(where, "line %s: %s" % (e.lineno, e.message)) from e
    except jinja2.UndefinedError as e:
        raise PackageError(where, "undefined variable%s: %s" % (_jinja_line(e, template.filename), e.message)) from e
    except jinja2.TemplateError as e:
        raise PackageError(where, "%s" % (e.message or e)) from e
    except (TypeError, ValueError, ArithmeticError, LookupError) as e:
        raise PackageError(where, "%s: %s" % (type(e).__name__, e)) from e


def render_entry(pkg: Package, entry: InitEntry, config: ResolvedConfig, values: t.Mapping[str, t.Any],
                 release_path: str | None) -> RenderedFile:
    init_where = pkg.where(INIT_FILE)
    dest = substitute(entry.name, config, values, init_where, "entry '%s' name" % entry.id)
    if not isinstance(dest, str) or not dest.startswith("/"):
        raise PackageError(init_where, "entry '%s': name %r resolves to %r, not an absolute path"
                           % (entry.id, entry.name, dest))
    if ".." in dest.split("/") or "\0" in dest:
        raise PackageError(init_where, "entry '%s': name %r contains '..'" % (entry.id, dest))
    dest = posixpath.normpath(dest)
    try:
        host_dest, in_release = place(dest, _str_or_none(values, "path"), release_path)
    except ValueError as e:
        raise PackageError(init_where, "entry '%s': name %s %s" % (entry.id, dest, e)) from None
    content, names = render_template(pkg, entry, config)
    secret = bool(names & config.secret_keys) or any(s in content for s in config.secret_values())
    return RenderedFile(entry.id, host_dest, entry.type, file_mode(entry.mode, secret), entry.owner, secret,
                        entry.template, in_release, content)


def _str_or_none(values: t.Mapping[str, t.Any], key: str) -> str | None:
    try:
        value = values[key]
    except KeyError:
        return None
    return str(value) if value not in (None, "") else None


def render_package(pkg: Package, env: str, values: t.Mapping[str, t.Any], release_path: str | None) -> Rendered:
    """Resolve the config for ``env`` and render every init.yml entry; the first problem is raised."""
    config_where = pkg.where(CONFIG_FILE)
    merged = merge_config(pkg.config_doc(), env, config_where)
    config = resolve_config(merged, values, config_where)
    files = []
    seen: dict[str, str] = {}
    for entry in pkg.init_entries():
        rendered = render_entry(pkg, entry, config, values, release_path)
        if rendered.dest in seen:
            raise PackageError(pkg.where(INIT_FILE), "entries '%s' and '%s' both produce %s"
                               % (seen[rendered.dest], entry.id, rendered.dest))
        seen[rendered.dest] = entry.id
        files.append(rendered)
    return Rendered(config, files)


# --------------------------------------------------------------------------- lint

LINT_PATH = "/noops-lint/path"
LINT_RELEASE = "/noops-lint/releases/lint"
LINT_DATA = "/noops-lint/data"


class _Placeholders(dict):
    """Every cluster value a package may ask for, so lint can resolve without a cluster.yml."""

    def __missing__(self, key: str) -> str:
        return "<%s>" % key


def lint_values() -> _Placeholders:
    return _Placeholders(path=LINT_PATH, data_path=LINT_DATA)


def lint_package(path: str) -> list[Problem]:
    """Every problem of a package folder or tarball against the standard; ERRORs make it unfit to deploy."""
    if os.path.isdir(path):
        return lint_tree(Package(path))
    if not os.path.isfile(path):
        return [Problem(ERROR, path, "no such package folder or tarball")]
    if not path.endswith(TAR_SUFFIXES):
        return [Problem(ERROR, path, "not a folder or a tarball (%s)" % ", ".join(TAR_SUFFIXES))]
    tmp = tempfile.mkdtemp(prefix="noops-lint-")
    try:
        return lint_unpacked(path, tmp, unpack_package(path, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def lint_unpacked(tar_path: str, root: str | None, unpack_problems: t.Sequence[Problem]) -> list[Problem]:
    """``lint_package`` of a tarball already unpacked into ``root`` by ``unpack_package``, which found
    ``unpack_problems``; messages name the tarball. ``root`` is None when the tarball could not be read."""
    problems = list(unpack_problems)
    if root is None or any(p.path == tar_path for p in problems):      # unreadable tarball: nothing to look into
        return problems
    return problems + lint_tree(Package(root, label=tar_path))


def lint_tree(pkg: Package) -> list[Problem]:
    problems: list[Problem] = []
    if not os.path.isdir(pkg.abspath(RELEASE_DIR)):
        return [Problem(ERROR, pkg.where(RELEASE_DIR), "missing: a package holds release/target and release/deploy")]
    for rel in (TARGET_DIR, DEPLOY_DIR):
        if not os.path.isdir(pkg.abspath(rel)):
            problems.append(Problem(ERROR, pkg.where(rel), "missing folder"))
    problems += _lint_links(pkg)
    problems += _lint_target_dirs(pkg)
    configs = _lint_config(pkg, problems)
    entries: list[InitEntry] = []
    try:
        entries = pkg.init_entries(problems)
    except PackageError as e:
        problems.extend(e.problems)
    problems += _lint_templates(pkg, entries)
    problems += _lint_render(pkg, entries, configs)
    problems += _lint_entry_points(pkg, configs)
    return _dedupe(problems)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _lint_links(pkg: Package) -> list[Problem]:
    """A package folder's links and special files, judged by ``check_tar_members`` as its tarball would be."""
    return [Problem(p.level, pkg.where(p.path), p.message) for p in check_tar_members(_folder_members(pkg))
            if p.level == ERROR]


def _folder_members(pkg: Package) -> list[tarfile.TarInfo]:
    """The headers ``build_package`` would write for release/ (symlinked folders are links, not followed)."""
    kinds = ((stat.S_ISDIR, tarfile.DIRTYPE), (stat.S_ISLNK, tarfile.SYMTYPE), (stat.S_ISREG, tarfile.REGTYPE),
             (stat.S_ISFIFO, tarfile.FIFOTYPE), (stat.S_ISCHR, tarfile.CHRTYPE), (stat.S_ISBLK, tarfile.BLKTYPE))
    infos = []
    for folder, dirs, files in os.walk(pkg.abspath(RELEASE_DIR)):
        dirs.sort()
        for name in [""] + sorted(dirs + files):
            full = os.path.join(folder, name) if name else folder
            info = tarfile.TarInfo(os.path.relpath(full, pkg.root).replace(os.sep, "/"))
            mode = os.lstat(full).st_mode
            info.type = next((kind for test, kind in kinds if test(mode)), tarfile.CHRTYPE)
            if info.issym():
                info.linkname = os.readlink(full)
            infos.append(info)
    return sorted(infos, key=lambda i: i.name)


def _lint_target_dirs(pkg: Package) -> list[Problem]:
    problems = []
    for name in FORBIDDEN_TARGET_DIRS:
        rel = "%s/%s" % (TARGET_DIR, name)
        if os.path.lexists(pkg.abspath(rel)):
            problems.append(Problem(ERROR, pkg.where(rel),
                                    "logs and data belong under data_path, not in the program tree"))
    return problems


def _lint_config(pkg: Package, problems: list[Problem]) -> dict[str, ResolvedConfig]:
    """The config of every env, resolved with placeholder values; problems common to all envs reported once."""
    where = pkg.where(CONFIG_FILE)
    try:
        doc = pkg.config_doc()
    except PackageError as e:
        problems.extend(e.problems)
        return {}
    if not isinstance(doc, dict) or not isinstance(doc.get("base"), dict):
        problems.append(Problem(ERROR, where, "must be a mapping with a 'base' section"))
        return {}
    envs = [k for k in doc if k != "base"]
    if not envs:
        problems.append(Problem(WARNING, where, "no environment section besides 'base' (e.g. production, staging)"))
        envs = ["base"]
    configs = {}
    by_message: dict[Problem, list[str]] = {}
    for env in envs:
        found: list[Problem] = []
        try:
            merged = merge_config(doc, str(env), where)
        except PackageError as e:
            found.append(Problem(ERROR, e.path, e.message))
        else:
            config = resolve_config(merged, lint_values(), where, found)
            # A key that failed is reported once, here; a stand-in keeps templates using it from repeating that.
            stand_ins = {k: "<unresolved %s>" % k for k in merged if k not in config.values}
            configs[str(env)] = config._replace(values={**config.values, **stand_ins})
        for problem in found:
            by_message.setdefault(problem, []).append(str(env))
    for problem, in_envs in by_message.items():
        if len(in_envs) < len(envs):
            problem = problem._replace(message="%s (env %s)" % (problem.message, ", ".join(in_envs)))
        problems.append(problem)
    return configs


def _lint_templates(pkg: Package, entries: list[InitEntry]) -> list[Problem]:
    problems = []
    named = {e.template for e in entries}
    for entry in entries:
        rel = pkg.template_rel(entry.template)
        if not os.path.isfile(pkg.abspath(rel)):
            problems.append(Problem(ERROR, pkg.where(rel), "template missing (named by init.yml entry '%s')"
                                    % entry.id))
    templates = pkg.abspath(TEMPLATES_DIR)
    for folder, dirs, files in os.walk(templates):
        dirs.sort()
        for name in sorted(files):
            rel = os.path.relpath(os.path.join(folder, name), templates).replace(os.sep, "/")
            if rel not in named:
                problems.append(Problem(WARNING, pkg.where(pkg.template_rel(rel)),
                                        "template not named by init.yml (Jinja2 includes are fine)"))
    return problems


def _lint_render(pkg: Package, entries: list[InitEntry], configs: dict[str, ResolvedConfig]) -> list[Problem]:
    """Render every entry for every env with placeholders: undefined variables and bad names surface here."""
    by_problem: dict[Problem, list[str]] = {}
    for env, config in configs.items():
        for entry in entries:
            if not os.path.isfile(pkg.abspath(pkg.template_rel(entry.template))):
                continue            # already reported once by _lint_templates
            try:
                rendered = render_entry(pkg, entry, config, lint_values(), LINT_RELEASE)
            except PackageError as e:
                by_problem.setdefault(Problem(ERROR, e.path, e.message), []).append(env)
                continue
            if rendered.in_release:
                inside = rendered.dest[len(LINT_RELEASE) + 1:]
                rel = "%s/%s" % (TARGET_DIR, inside)
                if os.path.lexists(pkg.abspath(rel)):
                    by_problem.setdefault(Problem(WARNING, pkg.where(rel), "init.yml entry '%s' renders over this "
                                                  "packaged file" % entry.id), []).append(env)
    problems = []
    for problem, in_envs in by_problem.items():
        if len(in_envs) < len(configs):
            problem = problem._replace(message="%s (env %s)" % (problem.message, ", ".join(in_envs)))
        problems.append(problem)
    return problems


def _lint_entry_points(pkg: Package, configs: dict[str, ResolvedConfig]) -> list[Problem]:
    """run.sh/stop.sh, or what mod_start/mod_stop point to under ${basedir}, exist and are executable."""
    problems = []
    entry_points = set()
    for key, default in (("mod_start", DEFAULT_START), ("mod_stop", DEFAULT_STOP)):
        commands = {str(c.values[key]) for c in configs.values() if key in c.values} or {None}
        for command in sorted(commands, key=str):
            if command is None:
                rels = [default]
            else:
                rels = [word[len(LINT_PATH) + 1:] for word in command.split() if word.startswith(LINT_PATH + "/")]
                if not rels:
                    problems.append(Problem(WARNING, pkg.where(CONFIG_FILE), "%s %r does not run a program under "
                                            "${basedir}; cannot check it" % (key, command)))
                    continue
            rel = "%s/%s" % (TARGET_DIR, rels[0])
            entry_points.add(rel)
            full = pkg.abspath(rel)
            what = "%s (%s)" % (key, command) if command else "%s (not set: default %s)" % (key, default)
            if not os.path.isfile(full):
                problems.append(Problem(ERROR, pkg.where(rel), "missing entry point for %s" % what))
            elif not os.stat(full).st_mode & 0o111:
                problems.append(Problem(ERROR, pkg.where(rel), "entry point for %s is not executable" % what))
    bin_dir = pkg.abspath(TARGET_DIR + "/bin")
    if os.path.isdir(bin_dir):
        for name in sorted(os.listdir(bin_dir)):
            full = os.path.join(bin_dir, name)
            if "%s/bin/%s" % (TARGET_DIR, name) in entry_points:
                continue            # already an ERROR above
            if os.path.isfile(full) and not os.stat(full).st_mode & 0o111 and _has_shebang(full):
                problems.append(Problem(WARNING, pkg.where("%s/bin/%s" % (TARGET_DIR, name)),
                                        "script with #! is not executable"))
    return problems


def _has_shebang(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"#!"


# --------------------------------------------------------------------------- build

def build_package(src_dir: str, out_path: str, version: str | None = None, mtime: int = 0) -> list[str]:
    """A deterministic .tar.gz of ``src_dir/release``: sorted members, fixed mtime, owner root, normalised modes.

    ``version`` is written to release/target/VERSION (the deployed program can tell what it is).
    Returns the member names. The same tree always gives the same bytes. The folder of ``out_path`` is made
    (with its parents) when missing; PackageError naming ``out_path`` when it cannot be made or written.
    """
    release = os.path.join(src_dir, RELEASE_DIR)
    if not os.path.isdir(release):
        raise PackageError(src_dir, "no release/ folder to build from")
    infos: list[tuple[tarfile.TarInfo, bytes | None]] = []
    version_rel = TARGET_DIR + "/VERSION"
    for folder, dirs, files in os.walk(release):
        # Byte-code caches appear when the program is run from the source tree; they are not part of it.
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel_folder = os.path.relpath(folder, src_dir).replace(os.sep, "/")
        infos.append((_dir_info(rel_folder, mtime), None))
        for name in sorted(files) + sorted(d for d in dirs if os.path.islink(os.path.join(folder, d))):
            full = os.path.join(folder, name)
            rel = "%s/%s" % (rel_folder, name)
            if version is not None and rel == version_rel:
                continue
            infos.append(_file_info(full, rel, mtime))
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
    if version is not None:
        if not os.path.isdir(os.path.join(src_dir, *TARGET_DIR.split("/"))):
            raise PackageError(src_dir, "no release/target folder to put VERSION in")
        data = ("%s\n" % version).encode("utf-8")
        info = _normalised(tarfile.TarInfo(version_rel), mtime, 0o644)
        info.size = len(data)
        infos.append((info, data))
    infos.sort(key=lambda pair: pair[0].name)
    errors = [p for p in check_tar_members(info for info, data in infos) if p.level == ERROR]
    if errors:
        raise PackageError("%s/%s" % (src_dir, errors[0].path), errors[0].message)
    fd, tmp = _output_file(out_path)
    try:
        with os.fdopen(fd, "wb") as raw:
            # No file name and a fixed mtime in the gzip header either, or identical trees give different bytes.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                    for info, data in infos:
                        if data is not None:
                            tar.addfile(info, io.BytesIO(data))
                        elif info.isreg():
                            with open(os.path.join(src_dir, *info.name.split("/")), "rb") as f:
                                tar.addfile(info, f)
                        else:
                            tar.addfile(info)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename in (tmp, out_path):
            raise PackageError(out_path, "cannot write the package: %s" % (e.strerror or e)) from e
        raise
    return [info.name for info, data in infos]


def _output_file(out_path: str) -> tuple[int, str]:
    """(fd, path) of a new temporary file beside ``out_path``, its folder made first (with its parents) when
    missing. PackageError naming ``out_path`` and the folder when the folder cannot be made or written to."""
    out_dir = os.path.dirname(out_path) or "."
    shown = os.path.normpath(out_dir)
    head = os.path.abspath(out_dir)
    while not os.path.lexists(head) and os.path.dirname(head) != head:
        head = os.path.dirname(head)
    if os.path.lexists(head) and not os.path.isdir(head):
        rel = os.path.relpath(head) if not os.path.isabs(out_dir) else head
        raise PackageError(out_path, "cannot write the package: %s is not a folder" % rel)
    try:
        os.makedirs(out_dir, exist_ok=True)
        return tempfile.mkstemp(prefix=".noops-build-", dir=out_dir)
    except OSError as e:
        raise PackageError(out_path, "cannot write the package in %s: %s" % (shown, e.strerror or e)) from e


def _normalised(info: tarfile.TarInfo, mtime: int, mode: int) -> tarfile.TarInfo:
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = mode
    return info


def _dir_info(rel: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(rel)
    info.type = tarfile.DIRTYPE
    return _normalised(info, mtime, 0o755)


def _file_info(full: str, rel: str, mtime: int) -> tuple[tarfile.TarInfo, None]:
    st = os.lstat(full)
    info = tarfile.TarInfo(rel)
    if stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(full)
        return _normalised(info, mtime, 0o777), None
    if not stat.S_ISREG(st.st_mode):
        raise PackageError(full, "not a regular file, folder or symlink; cannot go into a package")
    info.size = st.st_size
    return _normalised(info, mtime, 0o755 if st.st_mode & 0o111 else 0o644), None
