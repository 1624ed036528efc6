"""The AWX job templates' surveys (playbooks/awx/vars/surveys.yml, used by playbooks/awx/configure.yml): every
question has what AWX requires of it, and every variable is one the playbook takes, with the type and bounds Odin
checks it against (cluster.OVERRIDES, read from the code here, never restated)."""

import math
import os
import re

import pytest
import yaml

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import OVERRIDES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
AWX = os.path.join(ROOT, "playbooks", "awx")
SURVEYS = yaml.safe_load(open(os.path.join(AWX, "vars", "surveys.yml")))["noops_awx_surveys"]
CONFIGURE = yaml.safe_load(open(os.path.join(AWX, "configure.yml")))
PLAYBOOKS = {name: os.path.join(ROOT, "playbooks", name + ".yml") for name in ("deploy", "rollback", "control")}
# AWX's question types, and the survey types that give each kind of Odin value (AWX passes integer answers as
# ints, float answers as floats, the others as strings).
AWX_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")
SURVEY_TYPES = {"text": {"text", "textarea"}, "integer": {"integer"}, "number": {"integer", "float"},
                "boolean": {"multiplechoice"}}
# The extra vars the deploy and rollback playbooks take besides Odin's overrides.
PLAYBOOK_VARS = {"cluster_file"}


def questions():
    return [pytest.param(name, q, id="%s-%s" % (name, q.get("variable"))) for name, survey in SURVEYS.items()
            for q in survey["spec"]]


def test_every_job_template_has_its_survey():
    [task] = [t for t in CONFIGURE[0]["tasks"] if "awx.awx.job_template" in t]
    assert sorted(task["loop"]) == sorted(SURVEYS) == sorted(PLAYBOOKS)
    args = task["awx.awx.job_template"]
    assert args["survey_enabled"] is True and "noops_awx_surveys[item]" in args["survey_spec"]
    for event in ("started", "success", "error"):
        assert args["notification_templates_%s" % event]


@pytest.mark.parametrize("name", sorted(SURVEYS))
def test_survey_spec_has_what_awx_requires(name):
    survey = SURVEYS[name]
    assert isinstance(survey["name"], str) and isinstance(survey["description"], str)
    assert isinstance(survey["spec"], list) and survey["spec"]
    variables = [q["variable"] for q in survey["spec"]]
    assert len(variables) == len(set(variables)), variables


@pytest.mark.parametrize("name, q", questions())
def test_question_has_what_awx_requires(name, q):
    for field in ("type", "question_name", "variable", "required"):
        assert field in q, "%s: %s: %s missing" % (name, q.get("variable"), field)
    assert q["type"] in AWX_TYPES
    assert isinstance(q["required"], bool)
    if q["type"] in ("multiplechoice", "multiselect"):
        assert isinstance(q["choices"], list) and q["choices"] and all(isinstance(c, str) for c in q["choices"])
        if "default" in q:
            assert q["default"] in q["choices"]
    else:
        kind = int if q["type"] in ("integer", "text", "textarea", "password") else (int, float)
        assert isinstance(q["min"], kind) and isinstance(q["max"], kind) and q["min"] <= q["max"], q
        if q["type"] in ("text", "textarea", "password"):
            assert q["min"] >= 0
            if "default" in q:
                assert q["min"] <= len(q["default"]) <= q["max"]
        elif "default" in q:
            assert q["min"] <= q["default"] <= q["max"]


def test_deploy_playbook_passes_every_override_to_odin():
    play = yaml.safe_load(open(PLAYBOOKS["deploy"]))[0]
    block = play["tasks"][0]["block"]
    [prepare] = [t for t in block if "noops.platform.odin_prepare" in t]
    assert set(prepare["vars"]["odin_overrides"]) == set(OVERRIDES)
    for var, expr in prepare["vars"]["odin_overrides"].items():
        assert re.fullmatch(r"\{\{ %s \| default\(none\) \}\}" % var, expr), (var, expr)


def _bounds_and_check(q, spec):
    """The question's type and bounds are Odin's; Odin accepts what the question lets through at its edges."""
    assert q["type"] in SURVEY_TYPES[spec.kind], (q["variable"], q["type"], spec.kind)
    if q["type"] in ("integer", "float"):
        assert q["min"] == spec.minimum
        spec.check(q["min"])
        with pytest.raises(ValueError):
            spec.check(q["min"] - (1 if q["type"] == "integer" else 0.5))
        if spec.maximum is not None:
            assert q["max"] == spec.maximum
        spec.check(q["max"])
    elif q["type"] in ("text", "textarea"):
        # A blank optional answer means "as cluster.yml says" (Odin takes "" as not given): min 0 is allowed then.
        assert q["min"] == spec.minimum or (not q["required"] and q["min"] == 0), q
        if spec.maximum is not None:
            assert q["max"] == spec.maximum
        assert math.isfinite(q["max"])
    else:
        for choice in q["choices"]:
            spec.check(choice)
    if q.get("default") not in (None, ""):
        spec.check(q["default"])


@pytest.mark.parametrize("name, q", [p for p in questions() if p.values[0] in ("deploy", "rollback")])
def test_deploy_and_rollback_questions_are_odins(name, q):
    var = q["variable"]
    assert var in set(OVERRIDES) | PLAYBOOK_VARS, "%s: %s is no extra var the playbook takes" % (name, var)
    text = open(PLAYBOOKS["deploy"]).read()
    assert re.search(r"\b%s\b" % var, text)
    if var in OVERRIDES:
        _bounds_and_check(q, OVERRIDES[var])


def _jinja_names(path):
    text = "\n".join(line for line in open(path) if not line.lstrip().startswith("#"))
    return set(re.findall(r"[A-Za-z_]\w*", " ".join(re.findall(r"\{\{(.*?)\}\}", text, re.S)
                                                   + re.findall(r"when: (.*)", text))))


@pytest.mark.parametrize("name, q", [p for p in questions() if p.values[0] == "control"])
def test_control_questions_are_the_playbooks(name, q):
    var = q["variable"]
    assert var in _jinja_names(PLAYBOOKS["control"]), "control.yml does not use %s" % var
    if var == "action":
        actions = yaml.safe_load(open(PLAYBOOKS["control"]))[0]["vars"]["control_actions"]
        assert sorted(q["choices"]) == sorted(actions)
    elif var in OVERRIDES:
        _bounds_and_check(q, OVERRIDES[var])
    else:
        assert q["type"] == "text"


@pytest.mark.parametrize("machine, dsn, expected", [
    ([], "", []),
    (["fleet ssh"], "", ["fleet ssh"]),
    (["fleet ssh", "fleet become"], "postgresql://db/noops", ["fleet ssh", "fleet become", "noops history"]),
])
def test_job_templates_get_the_machine_credentials_and_the_history(machine, dsn, expected):
    """The job templates' credentials are set as a whole: the fleet's Machine credentials must be in the list, or
    a run of configure.yml removes the SSH key the jobs need."""
    import jinja2

    [task] = [t for t in CONFIGURE[0]["tasks"] if "awx.awx.job_template" in t]
    variables = dict(CONFIGURE[0]["vars"], noops_awx_machine_credentials=machine, noops_awx_history_dsn=dsn)
    rendered = jinja2.Environment().from_string(task["awx.awx.job_template"]["credentials"]).render(**variables)
    assert yaml.safe_load(rendered) == expected
