"""nbgrader's cell-metadata validation, with its schema checked once (coursekit.grading.course).

nbgrader validates every graded cell with ``jsonschema.validate``, which checks the schema
itself against its meta-schema on every call: about 0.2 s of CPU per ``backprop``
submission. :func:`cache_metadata_validation` makes each schema's validator once. Proved
here: the same metadata passes and fails as with ``jsonschema.validate``, with the same
error, the schema is checked once for many cells, and the grading API installs it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import nbgrader.nbgraderformat
import pytest
from nbformat.v4 import new_code_cell
from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

from coursekit.grading.course import _CheckedSchemas, cache_metadata_validation

SCHEMA = json.loads((Path(nbgrader.nbgraderformat.__file__).parent / "v3.json").read_text())
GOOD = {"grade": True, "grade_id": "test_relu", "locked": True, "points": 1, "schema_version": 3,
        "solution": False, "task": False}
BAD = [
    {**GOOD, "points": "one"},
    {**GOOD, "grade_id": 7},
    {key: value for key, value in GOOD.items() if key != "solution"},
    {**GOOD, "schema_version": "3"},
]


def test_the_same_metadata_passes_and_fails_with_the_same_error() -> None:
    checked = _CheckedSchemas(jsonschema)
    checked.validate(copy.deepcopy(GOOD), SCHEMA)
    jsonschema.validate(copy.deepcopy(GOOD), SCHEMA)
    for meta in BAD:
        with pytest.raises(jsonschema.ValidationError) as plain:
            jsonschema.validate(meta, SCHEMA)
        with pytest.raises(jsonschema.ValidationError) as cached:
            checked.validate(meta, SCHEMA)
        assert cached.value.message == plain.value.message, meta
        assert list(cached.value.path) == list(plain.value.path)


def test_the_schema_is_checked_once_for_many_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = jsonschema.validators.validator_for(SCHEMA)

    class Counting(real):  # type: ignore[misc, valid-type]
        @classmethod
        def check_schema(cls, schema, *args, **kwargs):  # noqa: ANN001, ANN206
            calls.append(1)
            return real.check_schema(schema, *args, **kwargs)

    monkeypatch.setattr(jsonschema.validators, "validator_for", lambda schema, default=None: Counting)
    checked = _CheckedSchemas(jsonschema)
    for _ in range(50):
        checked.validate(GOOD, SCHEMA)
    assert len(calls) == 1
    with pytest.raises(jsonschema.SchemaError):  # a broken schema is still refused
        _CheckedSchemas(jsonschema).validate(GOOD, {"type": 12})


def test_the_grading_api_installs_it(tmp_path: Path) -> None:
    from nbgrader.nbgraderformat import common

    from coursekit.grading import make_course_copy
    from coursekit.grading.course import Course

    Course(make_course_copy(tmp_path / "course", [])).api()
    assert isinstance(common.jsonschema, _CheckedSchemas)
    before = common.jsonschema
    cache_metadata_validation()
    assert common.jsonschema is before, "installed twice"
    validator = MetadataValidatorV3()  # what nbgrader's preprocessors use
    cell = new_code_cell("x = 1", metadata={"nbgrader": {**GOOD, "points": "one"}})
    with pytest.raises(jsonschema.ValidationError, match="'one' is not of type 'number'"):
        validator.validate_cell(cell)
