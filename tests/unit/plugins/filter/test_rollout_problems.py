"""The rollout_problems filter: rollout settings given as extra vars checked as Odin checks a cluster.yml's."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.noops.platform.plugins.filter.rollout_problems import rollout_problems


@pytest.mark.parametrize("given, expected", [
    ({"batch": 2, "sleep": 5}, []),
    ({"batch": None, "sleep": ""}, []),              # not given: an optional survey question left blank
    ({"batch": 0}, ['extra vars: batch: 0: must be an integer >= 1']),
    ({"batch": "abc", "sleep": -5}, ['extra vars: batch: "abc": must be an integer >= 1',
                                     'extra vars: sleep: -5: must be a number of seconds >= 0']),
    ({"max_fail": "lots"}, ['extra vars: max_fail: "lots": must be a count >= 0 or a percentage such as "25%"']),
])
def test_rollout_problems(given, expected):
    assert rollout_problems(given) == expected


def test_an_unknown_setting_is_an_error():
    with pytest.raises(AnsibleFilterError, match="'forks' is not a rollout setting"):
        rollout_problems({"forks": 5})
