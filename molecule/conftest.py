"""pytest setup shared by every scenario's testinfra verifier (Molecule runs pytest on molecule/<scenario>/tests).

testinfra's ansible backend knows no podman connection, so it would start a whole `ansible` process for every
single check (about 7 s each on a 2-core machine). Hosts whose inventory connection is podman get testinfra's own
podman backend instead: one `podman exec` per check, same answers.
"""

import testinfra
from testinfra.utils import ansible_runner

PODMAN_CONNECTIONS = ("podman", "containers.podman.podman")
_ansible_host = ansible_runner.get_ansible_host


def _podman_aware_ansible_host(config, inventory, host, *args, **kwargs):
    hostvars = inventory.get("_meta", {}).get("hostvars", {}).get(host, {})
    if hostvars.get("ansible_connection") in PODMAN_CONNECTIONS:
        return testinfra.get_host("podman://" + hostvars.get("ansible_host", host))
    return _ansible_host(config, inventory, host, *args, **kwargs)


ansible_runner.get_ansible_host = _podman_aware_ansible_host
