"""``noops package``: lint a release package against the standard, build a deterministic tarball, render it."""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing as t

from noops_cli.main import CliError
from ansible_collections.noops.platform.plugins.plugin_utils import yaml_file
from ansible_collections.noops.platform.plugins.plugin_utils.package import (
    build_package, lint_package, open_package, render_package,
)
from ansible_collections.noops.platform.plugins.module_utils.package_tar import ERROR, WARNING, PackageError


def register(subparsers: t.Any) -> None:
    parser = subparsers.add_parser("package", help="lint, build or render a release package",
                                   description="Release packages: release/target (the program) and release/deploy "
                                               "(config.template.yml, init.yml, templates/).")
    sub = parser.add_subparsers(dest="package_command", metavar="ACTION")
    sub.required = True

    lint = sub.add_parser("lint", help="check packages against the standard layout",
                          description="Check package folders (holding release/) or tarballs. Prints "
                                      "'ERROR path: message' / 'WARNING path: message'; exit status 1 on any "
                                      "error (or warning with --strict).")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="a folder containing release/, or a .tar.gz")
    lint.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    lint.add_argument("--strict", action="store_true", help="warnings fail too")
    lint.set_defaults(handler=run_lint)

    build = sub.add_parser("build", help="tar the release/ tree deterministically",
                           description="Write OUT.tar.gz from SRC_DIR/release: sorted members, fixed mtime, owner "
                                       "root, normalised modes; the same tree always gives the same bytes. The "
                                       "source is linted first and errors stop the build.")
    build.add_argument("src", metavar="SRC_DIR", help="folder containing release/")
    build.add_argument("-o", "--output", required=True, metavar="OUT.tar.gz")
    build.add_argument("--version", help="also write release/target/VERSION with this version")
    build.add_argument("--no-lint", action="store_true", help="build even if lint finds errors")
    build.set_defaults(handler=run_build)

    render = sub.add_parser("render", help="render a package's files for one env into a folder",
                            description="Resolve config.template.yml for ENV with the cluster values and render "
                                        "every init.yml entry below OUT_DIR (OUT_DIR + destination). Secret values "
                                        "are never printed.")
    render.add_argument("package", metavar="PATH", help="a folder containing release/, or a .tar.gz")
    render.add_argument("--env", required=True)
    render.add_argument("--values", metavar="FILE", help="YAML mapping of cluster values (path, user, name, ...)")
    render.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="one cluster value")
    render.add_argument("--release-path", help="where the new release folder goes on the host")
    render.add_argument("-o", "--output", required=True, metavar="OUT_DIR")
    render.set_defaults(handler=run_render)


def run_lint(args: argparse.Namespace) -> int:
    reports = []
    failed = False
    for path in args.paths:
        problems = lint_package(path)
        errors = sum(p.level == ERROR for p in problems)
        warnings = sum(p.level == WARNING for p in problems)
        failed = failed or errors > 0 or (args.strict and warnings > 0)
        reports.append({"path": path, "errors": errors, "warnings": warnings,
                        "problems": [p._asdict() for p in problems]})
    if args.json:
        json.dump({"ok": not failed, "packages": reports}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for report in reports:
            for problem in report["problems"]:
                print("%(level)s %(path)s: %(message)s" % problem)
            print("%s: %d error(s), %d warning(s)" % (report["path"], report["errors"], report["warnings"]))
    return 1 if failed else 0


def run_build(args: argparse.Namespace) -> int:
    if not args.no_lint:
        problems = [p for p in lint_package(args.src) if p.level == ERROR]
        if problems:
            for problem in problems:
                print(problem)
            raise CliError("%s: %d lint error(s); not building (--no-lint to override)" % (args.src, len(problems)),
                           status=1)
    try:
        members = build_package(args.src, args.output, version=args.version)
    except (PackageError, OSError) as e:
        raise CliError(str(e), status=1) from e
    print("%s: %d members" % (args.output, len(members)))
    return 0


# The values thor gives every package are text as written (`version: 1.10` is "1.10"); the others are template
# values, where YAML's ambiguous plain scalars (NO, off, 1.10) are refused.
VALUES_FIELDS = yaml_file.depth_fields({1: {k: yaml_file.TEXT for k in
                                            ("name", "user", "path", "version", "job", "data_path")}})


def _values(args: argparse.Namespace) -> dict[str, t.Any]:
    values: dict[str, t.Any] = {}
    if args.values:
        try:
            with open(args.values, "rb") as f:
                doc = yaml_file.load_yaml_strict(f, args.values, VALUES_FIELDS)
        except OSError as e:
            raise CliError("%s: %s" % (args.values, e.strerror or e)) from e
        except yaml_file.YamlFileError as e:
            raise CliError(str(e)) from e
        if not isinstance(doc, dict):
            raise CliError("%s: must be a mapping of cluster values" % args.values)
        values.update({str(k): v for k, v in doc.items()})
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError("--set %r: expected KEY=VALUE" % item)
        values[key] = value
    return values


def run_render(args: argparse.Namespace) -> int:
    values = _values(args)
    try:
        with open_package(args.package) as pkg:
            rendered = render_package(pkg, args.env, values, args.release_path)
    except PackageError as e:
        raise CliError(str(e), status=1) from e
    for file in rendered.files:
        local = os.path.join(args.output, file.dest.lstrip("/"))
        os.makedirs(os.path.dirname(local), mode=0o700, exist_ok=True)
        # Written owner-only here whatever the host mode: the folder is a staging area that may hold secrets.
        fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(file.content)
        print("%s %s mode=%s type=%s%s" % (file.entry, file.dest, file.mode, file.type,
                                           " secret" if file.secret else ""))
    return 0
