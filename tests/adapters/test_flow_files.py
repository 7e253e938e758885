"""Flow files: schema errors and YAML traps named by file, line and field, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalation_flow.adapters.flow_files import load_flow, load_flows
from escalation_flow.errors import FlowError

TINY = Path(__file__).parents[1] / "data" / "flows" / "tiny-example.yaml"
ROOT_FLOWS = Path(__file__).parents[2] / "flows"


def broken(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    text = TINY.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    return [str(p).removeprefix(f"{path}:") for p in caught.value.problems]


def test_version_is_the_sha256_of_the_file() -> None:
    import hashlib

    assert load_flow(TINY).version == hashlib.sha256(TINY.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'at: "08:00"',
            "at: 08:00",
            '58: stages[number=1].states.monitoring.timers[0].at: write the time quoted, "08:00": '
            "unquoted, a YAML 1.1 tool reads it as a number",
        ),
        (
            'at: "08:00"',
            "at: 800",
            "58: stages[number=1].states.monitoring.timers[0].at: 800 is not a time of day: write it "
            'quoted, like "08:00"',
        ),
        (
            "outcomes: [sent]",
            "outcomes: [yes]",
            "47: stages[number=1].states.letter_due.tasks[0].outcomes[0]: write 'yes' quoted: a YAML 1.1 "
            "tool reads it as a boolean",
        ),
        (
            "outcomes: [sent]",
            "outcomes: [true]",
            "47: stages[number=1].states.letter_due.tasks[0].outcomes[0]: true is a boolean here, "
            "but text is expected: quote it",
        ),
        (
            '    quote: "for four weeks"',
            '    qoute: "for four weeks"',
            "59: stages[number=1].states.monitoring.timers[0].qoute: unknown key; did you mean 'quote'?",
        ),
        (
            "due: {school_days: 3}",
            "due: {school_days: 3, school_weeks: 1}",
            "46: stages[number=1].states.letter_due.tasks[0].due: give exactly one of school_days, "
            "school_weeks, calendar_days",
        ),
        (
            "            template: first_concern_letter\n",
            "",
            "41: stages[number=1].states.letter_due.tasks[0]: a letter needs a template",
        ),
        (
            "role: attendance_lead\n            kind: letter",
            "role: attendance_led\n            kind: letter",
            "42: stages[number=1].states.letter_due.tasks[0].role: Input should be 'class_teacher', "
            "'attendance_lead', 'admin_staff', 'headteacher', 'head_of_academy', "
            "'family_liaison_officer', 'child_family_support_worker', 'senco', 'wellbeing_lead', "
            "'pastoral_manager', 'designated_safeguarding_lead', 'attendance_team' or "
            "'local_authority'",
        ),
    ],
)
def test_schema_problems_and_yaml_traps_name_the_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert expected in problems(broken(tmp_path, (old, new)))


def test_check_problems_name_the_line_of_the_field(tmp_path: Path) -> None:
    path = broken(
        tmp_path, ("to: monitoring\n      monitoring:", "to: monitorng\n      monitoring:")
    )
    assert problems(path) == [
        "51: stages[number=1].states.letter_due.on[0].to: unknown state 'monitorng'; "
        "did you mean 'monitoring'?"
    ]


def test_invalid_yaml_and_yaml_1_1_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: [unclosed\n")
    with pytest.raises(FlowError, match="is not valid YAML"):
        load_flow(bad)
    old = tmp_path / "old.yaml"
    old.write_text("%YAML 1.1\n---\nflow: x\n")
    with pytest.raises(FlowError, match=r"declares YAML 1\.1"):
        load_flow(old)


def test_load_flows_reports_every_file_at_once(tmp_path: Path) -> None:
    a = broken(tmp_path, ('at: "08:00"', "at: 08:00"))
    b = tmp_path / "b.yaml"
    b.write_text(
        TINY.read_text().replace("kind: meeting\n        tasks", "kind: meetin\n        tasks")
    )
    with pytest.raises(FlowError) as caught:
        load_flows([a, b, TINY])
    assert {p.file for p in caught.value.problems} == {str(a), str(b)}


# -- issue 11, part 3: messages that say where and why -----------------------------------------


def test_a_stage_level_timers_key_is_named_with_where_it_belongs(tmp_path: Path) -> None:
    path = broken(tmp_path, ('    name: "Meeting"\n', '    name: "Meeting"\n    timers: []\n'))
    found = problems(path)
    assert any(
        "stages[number=2].timers: 'timers' does not go here: it is a key of a state" in p
        for p in found
    ), found
    assert not any("did you mean 'timers'" in p for p in found)


def test_a_percent_sign_in_a_guard_is_explained(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        ('when: "attendance_pct >= concern_below_pct"', 'when: "attendance_pct >= 95%"'),
    )
    (problem,) = problems(path)
    assert "stages[number=1].states.monitoring.on[0].when" in problem
    assert "a % sign is not allowed in a guard: percentages are plain numbers" in problem


def test_paths_name_stages_by_the_plans_number_not_their_position(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        ("  - number: 2\n", "  - number: 7\n"),
        ("to: stage_2", "to: stage_7"),
        ("role: class_teacher", "role: class_teachr"),
    )
    found = problems(path)
    assert any(": stages[number=7].states.meeting.tasks[0].role:" in p for p in found), found


@pytest.mark.parametrize("number", [".nan", ".inf", "-.inf", ".NaN"])
def test_nan_and_infinite_numbers_are_refused(tmp_path: Path, number: str) -> None:
    path = broken(tmp_path, ("    value: 95\n", f"    value: {number}\n"))
    found = problems(path)
    assert any(
        "parameters.concern_below_pct.value" in p and "write a finite number" in p for p in found
    ), found


def test_a_billion_laughs_file_is_refused_by_its_alias_count_quickly(tmp_path: Path) -> None:
    import time

    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\nflow: laughs\n")
    started = time.perf_counter()
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    assert time.perf_counter() - started < 2
    (problem,) = caught.value.problems
    assert "YAML aliases (*name) repeat more than 1000 nodes" in problem.message


def test_a_small_alias_is_still_allowed(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        ("outcomes: [held, parent_did_not_attend]", "outcomes: &met [held, parent_did_not_attend]"),
    )
    load_flow(path)


COOKBOOK = Path(__file__).parents[1] / "data" / "cookbook"


def cookbook_broken(tmp_path: Path, name: str, *edits: tuple[str, str]) -> Path:
    text = (COOKBOOK / f"shape_{name}.yaml").read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    return path


def test_initial_choices_name_real_states_and_end_with_one_default(tmp_path: Path) -> None:
    unknown = cookbook_broken(tmp_path, "tiers", ("        state: warning\n", "        state: warnin\n"))
    assert any(
        "stages[number=2].initial[0].state: unknown state 'warnin'; did you mean 'warning'?" in p
        for p in problems(unknown)
    )
    no_default = cookbook_broken(tmp_path, "tiers", ("      - state: support\n", "      - state: support\n        when: \"stage == 2\"\n"))
    assert any("exactly one default" in p for p in problems(no_default))


def test_a_tier_steps_down_only_on_a_trigger_of_its_stage(tmp_path: Path) -> None:
    path = cookbook_broken(tmp_path, "tiers", ("    step_down_on: [review]\n", "    step_down_on: [reviw]\n"))
    assert any(
        "stages[number=1].step_down_on[0]: unknown trigger 'reviw'" in p for p in problems(path)
    )


def test_a_timer_length_names_a_parameter_with_whole_values_only(tmp_path: Path) -> None:
    unknown = cookbook_broken(tmp_path, "timers", ("{school_weeks: review_weeks}", "{school_weeks: review_wks}"))
    assert any("unknown parameter 'review_wks' for a timer's length" in p for p in problems(unknown))
    half = cookbook_broken(tmp_path, "timers", ("    value: 6\n", "    value: 5.5\n"))
    assert any("each value must be a whole number of at least 0" in p for p in problems(half))
    task = cookbook_broken(tmp_path, "timers", ("due: {school_days: 2}", "due: {school_days: review_weeks}"))
    assert any("only a timer's length may name a parameter" in p for p in problems(task))


def test_a_flow_file_edited_on_disk_is_read_again_and_the_same_bytes_are_parsed_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "oaks.yaml"
    text = (ROOT_FLOWS / "leigh-academy-oaks.yaml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    first = load_flow(path)
    assert load_flow(path) is first  # the same version of the file: parsed once
    edited = text.replace('title: "Attendance', 'title: "Edited Attendance', 1)
    path.write_text(edited, encoding="utf-8")
    second = load_flow(path)
    assert second.version != first.version
    assert second.definition.title.startswith("Edited Attendance")
