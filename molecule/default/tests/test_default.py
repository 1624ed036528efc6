"""Verify the default scenario inside each container (testinfra, run by Molecule's verify step)."""

import pytest

# The naming lookup puts the host's own machine room first; the other web host follows.
EXPECTED_ENDPOINTS = {
    "noops-default-lg": b"noops-default-lg:8080,noops-default-sd:8080\n",
    "noops-default-sd": b"noops-default-sd:8080,noops-default-lg:8080\n",
}


def test_endpoints_file_is_ordered_for_this_host(host):
    name = host.backend.get_hostname()
    endpoints = host.file("/etc/noops-web-endpoints")
    assert endpoints.is_file
    assert endpoints.mode == 0o644
    assert endpoints.content == EXPECTED_ENDPOINTS[name]


@pytest.mark.parametrize("program", ["python3", "god", "sudo", "ps"])
def test_base_image_has_what_deploys_use(host, program):
    assert host.exists(program), f"{program} missing from localhost/noops-base"


def test_hostname_is_the_platform_name(host):
    assert host.check_output("hostname") == host.backend.get_hostname()
