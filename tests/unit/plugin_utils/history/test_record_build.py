"""The history callback keeps a build's logs with the task: found in odin_prepare's result (or a failed build's
message), read, masked, and written through the store by the recorder."""

import pytest

from ansible_collections.noops.platform.plugins.module_utils.redact import Masker
from ansible_collections.noops.platform.plugins.plugin_utils.history.record import Recorder, build_texts
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore


@pytest.fixture
def logs(tmp_path):
    (tmp_path / "build.log").write_text("$ make\ncompiled with password=hunter2\n")
    (tmp_path / "build-error.log").write_text("warning: old compiler\n")
    return str(tmp_path / "build.log"), str(tmp_path / "build-error.log")


@pytest.mark.parametrize("result, names", [
    (lambda log, err: {"build": {"log": log, "error_log": err}}, ["build", "build-error"]),
    (lambda log, err: {"failed": True, "msg": "cluster.yml: build_command: exited with status 2: boom (logs: %s, %s)"
                       % (log, err)}, ["build", "build-error"]),
    (lambda log, err: {"failed": True, "msg": "cluster.yml: build_command: did not finish in 60 s (logs: %s)" % err},
     ["build-error"]),
    # A successful odin_prepare hides its whole result from callbacks: the playbook records the build as a fact.
    (lambda log, err: {"ansible_facts": {"odin_build": {"log": log, "error_log": err, "commit": "ab12"}}},
     ["build", "build-error"]),
    (lambda log, err: {"ansible_facts": {"odin_build": {}}}, []),
    (lambda log, err: {"msg": "fetched"}, []),
    (lambda log, err: {"build": {"log": log + ".gone", "error_log": err}}, ["build-error"]),
])
def test_build_texts(logs, result, names):
    texts = build_texts(result(*logs), Masker())
    assert sorted(texts) == names
    if "build" in texts:
        assert texts["build"].startswith("$ make") and "hunter2" not in texts["build"]


def test_the_recorder_writes_them_with_the_task(tmp_path, logs):
    dsn = str(tmp_path / "history.db")
    rec = Recorder(lambda: HistoryStore(dsn), flush_interval=0.05)
    task = rec.start({"playbook": "deploy.yml", "initiator": "ann"})
    for name, text in build_texts({"build": {"log": logs[0], "error_log": logs[1]}}, Masker()).items():
        rec.text(name, text)
    assert rec.close({"status": "success"}, timeout=10)
    with HistoryStore(dsn) as store:
        texts = store.task_texts(task)
    assert texts["build-error"] == "warning: old compiler\n" and "hunter2" not in texts["build"]
