"""The execution environment image, built once per session and kept between runs: `ee_image` builds
localhost/noops-ee:test with ansible-builder and podman (``--pull=never``) only when the image is missing or what it
is made of changed (a content hash of the EE definition, its helper scripts, the base image's recipe and the
collection's files, kept in the image's label); otherwise the image of an earlier run is used as it is."""

import time
import typing as t

import pytest

from hosts import podman
from hosts.common import missing_programs

IMAGE = "localhost/noops-ee:test"


class EEImage(t.NamedTuple):
    name: str
    status: str        # "built" or "cached"
    seconds: float     # what making (or finding) it took


@pytest.fixture(scope="session")
def ee_image(tmp_path_factory):
    reason = podman.unusable_reason()
    if (reason is None and podman.image_recipe(podman.EE_BASE_IMAGE) != podman.ee_base_recipe_hash()
            and missing_programs("debootstrap")):
        reason = "debootstrap is not installed (apt-get install debootstrap) to make the EE base image"
    if reason:
        pytest.skip(reason)
    started = time.monotonic()
    podman.setup_engine()
    # A HostsError from here on is a failure of the recipe, not a missing capability.
    podman.ensure_ee_base_image()
    tarball = podman.collection_tarball()
    status = podman.ensure_ee_image(IMAGE, tarball, tmp_path_factory.mktemp("ee-build"))
    return EEImage(IMAGE, status, round(time.monotonic() - started, 1))
