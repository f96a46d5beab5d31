"""Every parameter set to wrong types, out-of-range values and invalid combinations through the
real /classifier/set_parameters service: refused with a reason, nothing changed (read back),
decisions still flowing; and start-up values the node cannot run with end it with a reason."""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cherry_classifier.core.decision import Thresholds
from cherry_classifier.imaging.localizer import LocalizerParams
from cherry_classifier.node.parameters import PARAMETERS, THRESHOLD_NAMES

pytestmark = [pytest.mark.ros, pytest.mark.slow]

LOCALIZER = {
    f"localizer.{f.name}": f.default
    for f in fields(LocalizerParams)
    if isinstance(f.default, bool | int | float | str)
}
DEFAULTS = {name: spec.default for name, spec in PARAMETERS.items()} | LOCALIZER
NAMES = sorted(DEFAULTS)
LIVE = sorted(name for name, spec in PARAMETERS.items() if not spec.read_only)

VALUES = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_subnormal=False),  # nan and inf included
    st.sampled_from([-0.1, 1.5, 0.0, 1.0, 0.3, 0.9]),
    st.text(max_size=12),
    st.sampled_from(["clean", "maybe", "pit", "PIT", ""]),
    st.lists(st.integers(-5, 5), min_size=1, max_size=3),
    st.lists(st.text(max_size=4), min_size=1, max_size=3),
    st.lists(st.floats(allow_nan=False, allow_subnormal=False), min_size=1, max_size=3),
    st.just(None),  # NOT_SET: an attempt to undeclare the parameter
)


def acceptable(changes: dict, current: dict) -> bool:
    """Whether the node may accept this atomic set: live, right type, in range, consistent."""
    merged = dict(current)
    for name, value in changes.items():
        spec = PARAMETERS.get(name)
        if spec is None or spec.read_only or type(value) is not type(spec.default):
            return False
        if spec.choices and value not in spec.choices:
            return False
        if spec.float_range and not spec.float_range[0] <= value <= spec.float_range[1]:
            return False
        if spec.int_range and not spec.int_range[0] <= value <= spec.int_range[1]:
            return False
        merged[name] = value
    try:
        Thresholds(*(merged[n] for n in THRESHOLD_NAMES)).validated()
    except ValueError:
        return False
    return True


def read_all(client) -> dict:
    return dict(zip(NAMES, client.get(*NAMES), strict=True))


def same(a: dict, b: dict) -> bool:
    def equal(x, y):
        if isinstance(x, float) and isinstance(y, float):
            return x == y or (math.isnan(x) and math.isnan(y))
        return list(x) == list(y) if isinstance(x, list | tuple) else x == y

    return all(equal(a[name], b[name]) for name in NAMES)


@pytest.fixture
def fuzz_client(crops_node):
    client = crops_node.client
    client.settle()
    return client


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.dictionaries(
        st.one_of(st.sampled_from(NAMES), st.sampled_from(LIVE)), VALUES, min_size=1, max_size=3
    )
)
def test_fuzzed_parameter_sets_are_refused_with_a_reason_and_change_nothing(fuzz_client, changes):
    from rclpy.parameter import Parameter

    before = read_all(fuzz_client)
    parameters = [
        Parameter(name, Parameter.Type.NOT_SET) if value is None else Parameter(name, value=value)
        for name, value in changes.items()
    ]
    results = fuzz_client.call(
        fuzz_client.parameters.set_parameters_atomically(parameters), f"set {changes}"
    ).result
    after = read_all(fuzz_client)
    if acceptable(changes, before):
        assert results.successful, (changes, results.reason)
        assert all(after[name] == value for name, value in changes.items())
        restored = fuzz_client.call(
            fuzz_client.parameters.set_parameters_atomically(
                [Parameter(name, value=before[name]) for name in changes]
            ),
            "restore",
        ).result
        assert restored.successful, restored.reason
    else:
        assert not results.successful and results.reason, changes
        assert same(before, after), (changes, results.reason)


def test_each_parameter_refuses_the_obvious_wrong_values_with_a_named_reason(fuzz_client):
    from rclpy.parameter import Parameter

    before = read_all(fuzz_client)
    version_before = fuzz_client.model_infos[-1].thresholds_version
    cases = []
    for name in NAMES:
        spec = PARAMETERS.get(name)
        wrong_type = "text" if not isinstance(DEFAULTS[name], str) else 7
        cases.append(({name: wrong_type}, "read-only" if not spec or spec.read_only else "type"))
        if spec is not None and spec.read_only:
            cases.append(({name: DEFAULTS[name]}, "read-only"))
    cases += [
        ({"pit_threshold": 1.5}, "out of range"),
        ({"pit_threshold": float("nan")}, "out of range"),
        ({"clean_threshold": -0.1}, "out of range"),
        ({"maybe_threshold": 0.9}, "maybe_threshold"),  # above pit_threshold 0.5
        ({"pit_threshold": 0.1}, "maybe_threshold"),  # below maybe_threshold 0.2
        ({"pit_threshold": 0.9, "maybe_threshold": 0.95}, "maybe_threshold"),
        ({"pit_threshold": 0.7, "fail_safe_label": "PIT"}, "fail_safe_label must be one of"),
        ({"pit_threshold": 0.7, "crop_size": 64}, "read-only"),
        ({"fail_safe_label": ""}, "fail_safe_label must be one of"),
    ]
    for changes, reason in cases:
        parameters = [Parameter(name, value=value) for name, value in changes.items()]
        result = fuzz_client.call(
            fuzz_client.parameters.set_parameters_atomically(parameters), str(changes)
        ).result
        assert not result.successful and reason in result.reason, (changes, result.reason)
    assert same(before, read_all(fuzz_client))
    crop = np.zeros((32, 32, 3), np.uint8)
    from test.ros_client import image_msg

    (array,) = fuzz_client.send_and_collect([image_msg(crop, "bgr8", 1, "c")])
    assert array.thresholds_version == version_before
    assert (array.pit_threshold, array.maybe_threshold) == pytest.approx(
        (before["pit_threshold"], before["maybe_threshold"])
    )


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"input_mode": "bogus"}, "input_mode must be one of"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"maybe_threshold": 0.9}, "maybe_threshold (0.9) must be <= pit_threshold"),
        ({"max_frame_age_ms": -1.0}, "max_frame_age_ms"),
        ({"image_topics": "[]"}, "image_topics"),
        ({"image_topics": "['']"}, "image_topics must name at least one topic, none empty"),
        ({"image_topics": "['two words']"}, "'two words' is not a valid topic name"),
        ({"backend": "bogus"}, "backend must be one of"),
        ({"models_dir": "/does/not/exist"}, "models_dir '/does/not/exist' is not a folder"),
        ({"line_output": "true"}, "line_output needs input_mode image_set"),
        ({"line_axes": "['-v', '-v']"}, "x and y must use different image axes"),
    ],
)
def test_start_up_values_the_node_cannot_run_with_end_it_with_the_reason(
    tmp_path, models_dir, ros_domain, override, reason
):
    from cherry_dev.processes import process_output
    from test.ros_client import start_classifier

    options = dict(override)
    models = options.pop("models_dir", models_dir)  # the helper sets it from its argument
    with start_classifier(
        tmp_path, models, "badparams", model_path="clean", domain=ros_domain, **options
    ) as p:
        p.wait(60)
    output = process_output(tmp_path / "classifier_badparams.log")
    assert p.returncode == 2 and "invalid configuration" in output and reason in output, output
    assert "Traceback" not in output
