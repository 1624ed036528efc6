"""The supervisor_socket filter gives the role the socket path the modules compute (instance_layout)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.noops.platform.plugins.filter.supervisor_socket import FilterModule
from ansible_collections.noops.platform.plugins.module_utils import supervisor
from ansible_collections.noops.platform.plugins.module_utils.supervisor import instance_layout

supervisor_socket = FilterModule().filters()["supervisor_socket"]


@pytest.mark.parametrize("root", ["", "/srv/h1", "/srv/h1/", "/" + "r" * 55, "/" + "r" * 56, "/" + "r" * 64,
                                  "/" + "r" * 200])
@pytest.mark.parametrize("backend", ["supervisord", "god"])
def test_the_role_and_the_modules_agree(root, backend):
    assert supervisor_socket(root, backend) == instance_layout(root, backend)["socket"]


def test_god_with_its_port():
    assert supervisor_socket("/srv/h1", "god", 17165) == "/tmp/god.17165.sock"


def test_no_path_that_fits_fails_the_template(monkeypatch):
    monkeypatch.setattr(supervisor, "SHORT_SOCKET_DIR", "/" + "t" * 80)
    with pytest.raises(AnsibleFilterError, match=r"supervisor_socket: supervisord socket of noops_root /x+: "
                                                 r"/t+/noops-supervisord-\w+\.sock: 121 bytes, 129 with the 8-byte "
                                                 r"suffix supervisord binds first, longer than the 107-byte limit"):
        supervisor_socket("/" + "x" * 80)


def test_other_backends_are_refused():
    with pytest.raises(AnsibleFilterError, match="backend must be supervisord or god, got 'systemd'"):
        supervisor_socket("", "systemd")
