"""The project's real-test-host harness (documented in docs/testing.md).

- `hosts.podman`: rootful podman without a registry: engine setup, locally built images, driver collections.
- `hosts.molecule`: run a Molecule scenario under molecule/ with the right environment.
- `hosts.netns`: `Fleet`, a set of network-namespace hosts reachable over real SSH.

Import it as `hosts.<module>` with `<repo>/tests` on sys.path (tests/integration/conftest.py does that), or run
`python tests/hosts --help` for the command line.
"""
