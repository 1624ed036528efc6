"""filter thor_problems: the thor role's request checked with odin_prepare's rules, one line per variable."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.noops.platform.plugins.filter.thor_problems import thor_problems

GOOD = dict(thor_name="hello", thor_version="1.0.0", thor_path="/home/work/hello", thor_data_path="/data/hello",
            thor_package="/srv/hello-1.0.0.tar.gz", thor_keep_releases=5)


@pytest.mark.parametrize("bad, expected", [
    ({"thor_name": "d ch"}, 'thor: thor_name: "d ch": must match [A-Za-z0-9][A-Za-z0-9_.-]* (it names the process '
                            'and the data folder)'),
    ({"thor_name": 7}, "thor: thor_name: 7: must match [A-Za-z0-9][A-Za-z0-9_.-]* (it names the process and the "
                       "data folder)"),
    ({"thor_version": "1.0 beta"}, 'thor: thor_version: "1.0 beta": must match [A-Za-z0-9][A-Za-z0-9_.+-]* (it names '
                                   'the release folder on every host)'),
    ({"thor_version": "v" * 129}, "is 129 characters long, at most 128"),
    ({"thor_path": "home/work/hello"}, 'thor: thor_path: "home/work/hello": must be an absolute path'),
    ({"thor_path": "/"}, 'thor: thor_path: "/": must be an absolute path below / without \'..\''),
    ({"thor_path": "/home/work/hello/"}, 'thor: thor_path: "/home/work/hello/": must be an absolute path below / '
                                         'written as /home/work/hello'),
    ({"thor_data_path": "data"}, 'thor: thor_data_path: "data": must be an absolute path'),
    ({"thor_data_path": "/data/../etc"}, 'thor: thor_data_path: "/data/../etc": must be an absolute path below / '
                                         "without '..'"),
    ({"thor_package": ""}, 'thor: thor_package: "": must be the release package (.tar.gz, or its folder) on the '
                           'controller'),
    ({"thor_keep_releases": 1}, "thor: thor_keep_releases: 1: must be an integer >= 2"),
    ({"thor_keep_releases": True}, "thor: thor_keep_releases: true: must be an integer >= 2, not a boolean"),
])
def test_each_rule_names_the_variable_and_value(bad, expected):
    problems = thor_problems(dict(GOOD, **bad))
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_good_request_and_every_problem_at_once():
    assert thor_problems(GOOD) == []
    assert thor_problems(dict(GOOD, thor_keep_releases="3", thor_version=93043)) == []  # -e gives strings
    problems = thor_problems(dict(GOOD, thor_name="d ch", thor_version="1 0", thor_package=""))
    assert [p.split(":")[1].strip() for p in problems] == ["thor_name", "thor_version", "thor_package"]
    assert thor_problems({}) == []


def test_secret_looking_values_are_never_shown():
    # (no thor variable has a secret name today; the problem line masks one as odin_prepare's do)
    assert "hunter2" not in " ".join(thor_problems(dict(GOOD, thor_path="https://u:hunter2@x/y")))


def test_not_a_mapping():
    with pytest.raises(AnsibleFilterError, match="expects a mapping"):
        thor_problems(["thor_name"])
