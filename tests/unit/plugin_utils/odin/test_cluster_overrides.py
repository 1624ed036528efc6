"""Extra vars over cluster.yml (what `-e`, a form or an AWX survey gives): the env, the version, the package (a
pkg_url, or the branch a code_url is built from) and the rollout settings, each checked as the file's own field
is, and a refused value named as an extra var, every problem at once."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import OVERRIDES, parse_cluster

JOB = "job.dch_service.dch_cluster.production-hh_pdl.account_owt.miliao_cop.xiaomi"
SHA = "a" * 64
PKG = {
    "cluster": {"name": "dch", "version": "1.0.0.1", "env": "production", "jobs": [JOB]},
    "dch": {"path": "/home/work/dch", "pkg_url": "https://pkgs.example.com/dch-1.tar.gz", "pkg_sha256": SHA},
}
GIT = {
    "cluster": {"name": "dch", "env": "production", "jobs": [JOB]},
    "dch": {"path": "/home/work/dch", "code_url": "https://git.example.com/dch.git", "branch": "main"},
}


@pytest.mark.parametrize("doc, overrides, expected", [
    (PKG, {"env": "staging"}, {"env": "staging", "version": "1.0.0.1"}),
    (PKG, {"version": "2.0.1"}, {"version": "2.0.1"}),
    (PKG, {"version": 93044}, {"version": "93044"}),
    # Another package: the file's checksum was of the file's package, so it is not used for this one.
    (PKG, {"pkg_url": "https://pkgs.example.com/dch-2.tar.gz"},
     {"pkg_url": "https://pkgs.example.com/dch-2.tar.gz", "pkg_sha256": None}),
    (PKG, {"pkg_url": "https://pkgs.example.com/dch-2.tar.gz", "pkg_sha256": "B" * 64},
     {"pkg_url": "https://pkgs.example.com/dch-2.tar.gz", "pkg_sha256": "b" * 64}),
    # A package instead of building from git: the git settings go with it.
    (GIT, {"pkg_url": "https://pkgs.example.com/dch-2.tar.gz", "version": "2"},
     {"pkg_url": "https://pkgs.example.com/dch-2.tar.gz", "code_url": None, "branch": None}),
    (GIT, {"branch": "release-2"}, {"branch": "release-2", "code_url": "https://git.example.com/dch.git"}),
    # Rebuild (or fetch again) even when the cache holds the package: for a build from git and a package URL.
    (GIT, {"force_rebuild": True}, {"force_rebuild": True}),
    (PKG, {"force_rebuild": "yes"}, {"force_rebuild": True}),
    (dict(GIT, dch=dict(GIT["dch"], force_rebuild=True)), {"force_rebuild": False}, {"force_rebuild": False}),
    (GIT, {"force_rebuild": None}, {"force_rebuild": False}),
    # Unset (None) and empty answers (an optional survey question left blank) leave the file's value.
    (PKG, {"env": "", "version": None, "pkg_url": "", "branch": "", "pkg_sha256": ""},
     {"env": "production", "version": "1.0.0.1", "pkg_sha256": SHA}),
])
def test_override(doc, overrides, expected):
    cluster, problems = parse_cluster(doc, "cluster.yml", "/srv", overrides)
    assert problems == []
    assert {k: getattr(cluster, k) for k in expected} == expected


@pytest.mark.parametrize("doc, overrides, expected", [
    (PKG, {"version": "1/2"},
     ['extra vars: version: "1/2": must match [A-Za-z0-9][A-Za-z0-9_.+-]* (it names the release folder on every '
      'host)']),
    (PKG, {"env": "base"},
     ['extra vars: env: "base": \'base\' is merged into every env; name the env itself (production, staging, ...)']),
    (PKG, {"pkg_url": "gopher://x/y.tgz"}, ['extra vars: pkg_url: "gopher://x/y.tgz": scheme must be http, https, '
                                            'ftp or file']),
    (PKG, {"pkg_sha256": "123"}, ['extra vars: pkg_sha256: "123": must be 64 hex digits (the package\'s sha256)']),
    (PKG, {"branch": "main"},
     ['extra vars: branch: "main": only used with code_url (building from git); cluster.yml gives pkg_url']),
    (GIT, {"branch": "main", "pkg_url": "https://pkgs.example.com/dch-2.tar.gz", "version": "2"},
     ['extra vars: branch: "main": give either pkg_url (a built package) or branch (to build from git), not both']),
    # Every problem at once, the rollout's too.
    (PKG, {"force_rebuild": "maybe"}, ['extra vars: force_rebuild: "maybe": must be true or false']),
    (PKG, {"version": "-x", "batch": 0, "force": "maybe"},
     ['extra vars: version: "-x": must match [A-Za-z0-9][A-Za-z0-9_.+-]* (it names the release folder on every '
      'host)', "extra vars: batch: 0: must be an integer >= 1", 'extra vars: force: "maybe": must be true or false']),
])
def test_refused_override(doc, overrides, expected):
    assert parse_cluster(doc, "cluster.yml", "/srv", overrides)[1] == expected


def test_every_override_is_described():
    """What a form or survey may offer: every extra var parse_cluster takes over the file, with its type."""
    assert set(OVERRIDES) == {"env", "version", "pkg_url", "pkg_sha256", "branch", "batch", "sleep", "pause_step",
                              "max_fail", "canary", "force", "force_rebuild"}
    for name, spec in OVERRIDES.items():
        assert spec.kind in ("text", "integer", "number", "boolean"), name
        assert callable(spec.check), name
