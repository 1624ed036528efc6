"""Podman as a Molecule backend on a machine with no registry and no Docker engine.

`prepare()` makes podman usable (cgroup mounts, containers.conf), builds the two local images when they are missing
or their recipe changed, and unpacks the collections the Molecule podman driver needs from the PyPI `ansible`
bundle (Galaxy is not reachable). Every step is idempotent and cheap when there is nothing to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from .common import REPO_ROOT, HostsError, cache_dir, is_root, missing_programs, run

BASE_IMAGE = "localhost/noops-base"
SYSTEMD_IMAGE = "localhost/noops-systemd"
RECIPE_LABEL = "org.noops.recipe"
SUITE = "bookworm"
# What every test host needs: python3 for Ansible, ruby-god (the default supervisor), sudo for become,
# procps for ps/pgrep in checks, python3-venv for deploys that build a virtualenv.
BASE_PACKAGES = ("python3", "python3-venv", "ruby-god", "sudo", "procps")
# The execution environment's base (execution-environment.yml): what ansible-builder needs of it - Python with
# pip and venv - and certificates for PyPI.
EE_BASE_IMAGE = "localhost/noops-ee-base"
EE_BASE_PACKAGES = ("python3", "python3-pip", "python3-venv", "ca-certificates")
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SYSTEMD_CONTAINERFILE = f"""\
FROM {BASE_IMAGE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
      systemd systemd-sysv dbus && apt-get clean && rm -rf /var/lib/apt/lists/*
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
"""
# Collections the Molecule podman driver imports (its create/destroy playbooks use both).
DRIVER_COLLECTIONS = ("containers/podman", "ansible/posix")
CONTAINERS_CONF = Path("/etc/containers/containers.conf")
CONF_MARKER = "# written by noops tests/hosts/podman.py"
CGROUP_V2_CONTROLLERS = Path("/sys/fs/cgroup/unified/cgroup.controllers")
MQUEUE = Path("/dev/mqueue")


def base_recipe_hash() -> str:
    return hashlib.sha256(json.dumps([SUITE, BASE_PACKAGES]).encode()).hexdigest()[:16]


def systemd_recipe_hash() -> str:
    return hashlib.sha256((base_recipe_hash() + SYSTEMD_CONTAINERFILE).encode()).hexdigest()[:16]


def debian_mirror() -> str:
    """The machine's own Debian mirror (first URIs: line of the deb822 sources), so builds use what apt uses."""
    if os.environ.get("NOOPS_DEBIAN_MIRROR"):
        return os.environ["NOOPS_DEBIAN_MIRROR"]
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        for line in deb822.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", legacy.read_text(), re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def containers_conf_text() -> str:
    hard = subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True, check=True).stdout.strip()
    return f"""{CONF_MARKER}
# crun cannot raise RLIMIT_NOFILE above the caller's hard limit here, so ask for exactly that limit.
[containers]
default_ulimits = ["nofile={hard}:{hard}", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
# Test containers hold no state worth a graceful 10 s shutdown.
stop_timeout = 2
"""


def setup_engine() -> list[str]:
    """Make rootful podman run on this machine; returns what was changed (empty when nothing was needed)."""
    if not is_root():
        raise HostsError("podman setup needs root (rootless podman is not configured by this harness)")
    changed = []
    # crun refuses "hybrid" cgroups: give every controller still on the v2 hierarchy its own v1 mount.
    if CGROUP_V2_CONTROLLERS.exists():
        for controller in CGROUP_V2_CONTROLLERS.read_text().split():
            target = Path("/sys/fs/cgroup") / controller
            if not os.path.ismount(target):
                target.mkdir(exist_ok=True)
                run(["mount", "-t", "cgroup", "-o", controller, "cgroup", str(target)])
                changed.append(f"mounted cgroup v1 {controller}")
    # ansible-navigator (and ansible-runner's --ipc=host) want the POSIX message queue filesystem on /dev/mqueue.
    if not os.path.ismount(MQUEUE):
        MQUEUE.mkdir(exist_ok=True)
        run(["mount", "-t", "mqueue", "mqueue", str(MQUEUE)])
        changed.append(f"mounted mqueue on {MQUEUE}")
    want = containers_conf_text()
    current = CONTAINERS_CONF.read_text() if CONTAINERS_CONF.exists() else None
    if current is None or (current.startswith(CONF_MARKER) and current != want):
        CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
        CONTAINERS_CONF.write_text(want)
        changed.append(f"wrote {CONTAINERS_CONF}")
    return changed


def image_recipe(image: str) -> str | None:
    """The recipe hash an image was built from, or None when the image does not exist."""
    proc = run(["podman", "image", "inspect", "--format", "{{ json .Labels }}", image], check=False)
    if proc.returncode != 0:
        return None
    return (json.loads(proc.stdout.strip() or "null") or {}).get(RECIPE_LABEL, "")


def debootstrap(packages: tuple[str, ...], work: Path) -> None:
    """A minimal Debian SUITE with ``packages`` in ``work``, from the machine's Debian mirror."""
    if missing_programs("debootstrap"):
        raise HostsError("debootstrap: not installed (apt-get install debootstrap)")
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(packages), SUITE, str(work),
         debian_mirror()], timeout=1200)
    # Package caches only make the image bigger; containers run apt-get update when they install.
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (work / junk).glob("*"):
            if entry.is_file():
                entry.unlink()


def import_rootfs(source: list[str], image: str, recipe: str) -> None:
    """``podman import`` the tar stream ``source`` (a command writing it) as ``image``, labelled with its recipe."""
    tar = subprocess.Popen(source, stdout=subprocess.PIPE)
    try:
        proc = subprocess.run(["podman", "import", "--change", f"LABEL {RECIPE_LABEL}={recipe}",
                               "--change", 'CMD ["/bin/bash"]', "-", image],
                              stdin=tar.stdout, capture_output=True, text=True, timeout=600, check=False)
    finally:
        tar.stdout.close()
        tar.wait()
    if proc.returncode != 0 or tar.returncode != 0:
        raise HostsError(f"podman import {image}: {proc.stderr.strip()[-2000:]}")


def build_base_image() -> None:
    """debootstrap a minimal Debian with BASE_PACKAGES and import it: no registry is needed."""
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache_dir()))
    try:
        debootstrap(BASE_PACKAGES, work)
        import_rootfs(["tar", "-C", str(work), "-c", "."], BASE_IMAGE, base_recipe_hash())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ee_rootfs_hash() -> str:
    return hashlib.sha256(json.dumps([SUITE, EE_BASE_PACKAGES]).encode()).hexdigest()[:16]


def local_cas() -> list[Path]:
    """Certificate authorities this machine adds to Debian's (an HTTPS proxy's, say): the base image trusts them
    too, so that a build inside it reaches PyPI as this machine does."""
    return sorted(p for p in LOCAL_CA_DIR.glob("*.crt") if p.is_file()) if LOCAL_CA_DIR.is_dir() else []


def ee_base_recipe_hash() -> str:
    digest = hashlib.sha256(ee_rootfs_hash().encode())
    for path in local_cas():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def ee_rootfs() -> Path:
    """The execution environment's base rootfs as a tar file, debootstrapped once and kept in the cache
    (``<cache>/rootfs/<suite>-ee-<recipe>.tar``): a removed image is imported again without the mirror."""
    target = cache_dir() / "rootfs" / f"{SUITE}-ee-{ee_rootfs_hash()}.tar"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache_dir()))
    try:
        debootstrap(EE_BASE_PACKAGES, work)
        partial = target.with_suffix(".partial")
        run(["tar", "-C", str(work), "-cf", str(partial), "."], timeout=600)
        partial.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def ensure_ee_base_image() -> str:
    """EE_BASE_IMAGE from the cached rootfs when missing or its recipe changed: 'cached' or 'built'."""
    if image_recipe(EE_BASE_IMAGE) == ee_base_recipe_hash():
        return "cached"
    rootfs = ee_rootfs()
    cas = local_cas()
    if not cas:
        import_rootfs(["cat", str(rootfs)], EE_BASE_IMAGE, ee_base_recipe_hash())
        return "built"
    # The machine's own authorities go in beside Debian's, with the bundle made from both (appended members win).
    with tempfile.TemporaryDirectory(prefix="ee-base-", dir=cache_dir()) as tmp:
        tar = Path(tmp) / "rootfs.tar"
        shutil.copyfile(rootfs, tar)
        # podman import refuses a path twice: Debian's bundle leaves before the machine's goes in.
        run(["tar", "--delete", "-f", str(tar), "./" + str(SYSTEM_CA_BUNDLE.relative_to("/"))], timeout=600)
        run(["tar", "-rf", str(tar), "-C", "/"] + [str(p.relative_to("/")) for p in cas]
            + [str(SYSTEM_CA_BUNDLE.relative_to("/"))], timeout=600)
        import_rootfs(["cat", str(tar)], EE_BASE_IMAGE, ee_base_recipe_hash())
    return "built"


# The execution environment image (execution-environment.yml) and what it is built from besides the collection.
EE_FILE = REPO_ROOT / "execution-environment.yml"
EE_INPUTS = ("execution-environment.yml", "ee/apt-pkgmgr", "ee/pip-check")
EE_COLLECTIONS = REPO_ROOT / "ee" / "collections"


def collection_tarball(out_dir: Path = EE_COLLECTIONS) -> Path:
    """``ansible-galaxy collection build`` of the checkout into ``out_dir`` (by default the folder
    execution-environment.yml copies the tarball from); returns the tarball's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    galaxy = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    run([galaxy, "collection", "build", "--force", "--output-path", str(out_dir), str(REPO_ROOT)], timeout=300,
        cwd=REPO_ROOT)
    [tarball] = [p for p in out_dir.iterdir() if p.name.startswith("noops-platform-") and p.name.endswith(".tar.gz")]
    return tarball


def ee_recipe_hash(tarball: Path) -> str:
    """What the EE image is made of: the base image's recipe, the EE definition and its helper scripts, and the
    collection's content (its MANIFEST.json holds the checksum of FILES.json, which holds every file's)."""
    digest = hashlib.sha256(ee_base_recipe_hash().encode())
    for rel in EE_INPUTS:
        digest.update(rel.encode() + b"\0" + (REPO_ROOT / rel).read_bytes())
    with tarfile.open(tarball) as tf:
        member = tf.extractfile("MANIFEST.json")
        if member is None:
            raise HostsError(f"{tarball}: no MANIFEST.json")
        digest.update(member.read())
    return digest.hexdigest()[:16]


def ensure_ee_image(image: str, tarball: Path, work: Path) -> str:
    """``image`` built with ansible-builder and podman (never a registry: ``--pull=never``) from the EE definition
    and ``tarball`` (in EE_COLLECTIONS) when it is missing or its recipe changed: 'cached' or 'built'.
    The build context goes to ``work``; HostsError with the build's last output when it fails."""
    recipe = ee_recipe_hash(tarball)
    if image_recipe(image) == recipe:
        return "cached"
    ensure_ee_base_image()
    old = run(["podman", "image", "inspect", "--format", "{{ .Id }}", image], check=False).stdout.strip()
    builder = os.path.join(os.path.dirname(sys.executable), "ansible-builder")
    proc = run([builder, "build", "-f", str(EE_FILE), "-c", str(work / "context"), "-t", image,
                "--container-runtime", "podman", f"--extra-build-cli-args=--pull=never --label={RECIPE_LABEL}={recipe}",
                "-v", "3"], check=False, timeout=3600, cwd=REPO_ROOT)
    if proc.returncode != 0:
        raise HostsError(f"ansible-builder build {image}: exit {proc.returncode}: "
                         f"{(proc.stdout + proc.stderr)[-6000:]}")
    new = run(["podman", "image", "inspect", "--format", "{{ .Id }}", image], check=False).stdout.strip()
    if old and old != new:
        # The image this build replaced, now without a name (its layers stay as the build cache).
        run(["podman", "rmi", old], check=False)
    return "built"


def build_systemd_image() -> None:
    with tempfile.TemporaryDirectory(prefix="systemd-image-", dir=cache_dir()) as ctx:
        (Path(ctx) / "Containerfile").write_text(SYSTEMD_CONTAINERFILE)
        run(["podman", "build", "--label", f"{RECIPE_LABEL}={systemd_recipe_hash()}", "-t", SYSTEMD_IMAGE,
             "-f", str(Path(ctx) / "Containerfile"), ctx], timeout=1200)


def ensure_images() -> dict[str, str]:
    """Build each image only when it is missing or its recipe changed; returns image -> 'cached' | 'built'."""
    result = {}
    base_rebuilt = False
    if image_recipe(BASE_IMAGE) != base_recipe_hash():
        build_base_image()
        base_rebuilt = True
    result[BASE_IMAGE] = "built" if base_rebuilt else "cached"
    # Built FROM the base: a rebuilt base (new recipe, or the image was removed) rebuilds the systemd image too.
    if base_rebuilt or image_recipe(SYSTEMD_IMAGE) != systemd_recipe_hash():
        build_systemd_image()
        result[SYSTEMD_IMAGE] = "built"
    else:
        result[SYSTEMD_IMAGE] = "cached"
    return result


def bundle_major() -> int:
    """The `ansible` bundle major version made for the installed ansible-core (2.19 -> 12, 2.20 -> 13)."""
    from ansible.release import __version__ as core

    minor = int(core.split(".")[1])
    return minor - 7


def collections_dir() -> Path:
    """A folder for ANSIBLE_COLLECTIONS_PATH holding the driver's collections, unpacked on first use."""
    major = bundle_major()
    root = cache_dir() / f"collections-ansible{major}"
    done = root / ".complete"
    if done.exists():
        return root
    downloads = Path(tempfile.mkdtemp(prefix="bundle-", dir=cache_dir()))
    try:
        run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
             f"ansible>={major},<{major + 1}", "-d", str(downloads)], timeout=900)
        wheel = next(downloads.glob("ansible-*.whl"))
        staging = Path(tempfile.mkdtemp(prefix="collections-", dir=cache_dir()))
        with zipfile.ZipFile(wheel) as zf:
            wanted = [n for n in zf.namelist()
                      if any(n.startswith(f"ansible_collections/{c}/") for c in DRIVER_COLLECTIONS)]
            if not wanted:
                raise HostsError(f"{wheel.name}: holds none of {', '.join(DRIVER_COLLECTIONS)}")
            zf.extractall(staging, wanted)
        (staging / ".complete").write_text(wheel.name + "\n")
        shutil.rmtree(root, ignore_errors=True)
        staging.rename(root)
    finally:
        shutil.rmtree(downloads, ignore_errors=True)
    return root


def collection_version(root: Path, name: str) -> str:
    manifest = root / "ansible_collections" / name / "MANIFEST.json"
    return json.loads(manifest.read_text())["collection_info"]["version"]


def probe() -> None:
    """Start a throwaway container; HostsError with podman's own words when that does not work."""
    run(["podman", "run", "--rm", "--network", "none", BASE_IMAGE, "true"], timeout=120)


def unusable_reason() -> str | None:
    """Why podman cannot run test containers here, before any setup is attempted (None: try it)."""
    if missing_programs("podman"):
        return "podman is not installed (./dev test installs it when run as root)"
    if not is_root():
        return "podman tests need root: the harness sets up rootful podman only"
    return None


def prepare() -> dict[str, object]:
    """Everything Molecule needs, idempotent: engine setup, images, driver collections, then a probe container.
    Returns a report: what each step did and how long it took."""
    reason = unusable_reason()
    if reason:
        raise HostsError(reason)
    report: dict[str, object] = {}
    seconds: dict[str, float] = {}
    for step, action in (("engine", setup_engine), ("images", ensure_images),
                         ("collections", lambda: str(collections_dir())), ("probe", probe)):
        start = time.monotonic()
        report[step] = action()
        seconds[step] = round(time.monotonic() - start, 1)
    report["seconds"] = seconds
    return report


def cleanup_containers(label: str | None = None) -> list[str]:
    """Remove containers left by an interrupted Molecule run (by label when given); returns their names."""
    cmd = ["podman", "ps", "-a", "--format", "{{ .Names }}"]
    if label:
        cmd += ["--filter", f"label={label}"]
    names = run(cmd).stdout.split()
    if names:
        run(["podman", "rm", "-f", "-t", "0", *names])
    return names
