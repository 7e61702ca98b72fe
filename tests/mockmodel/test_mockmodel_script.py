"""The script format: loading, validation (one clear line per problem) and entry selection."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import codeswarm.mockmodel
from codeswarm.core.errors import ScriptError
from codeswarm.mockmodel import (
    EXHAUSTED_TEXT,
    Entry,
    ExecCall,
    Script,
    latest_user_text,
    load_script,
    to_codex_flags,
)
from codeswarm.mockmodel.overrides import toml_value
from codeswarm.mockmodel.sse import split_text
from swarmkit import json_values


def script(*entries: Any, agent: str = "*") -> Script:
    return Script.from_obj({"agents": {agent: list(entries)}}, source="s.json")


def error_of(obj: object) -> str:
    with pytest.raises(ScriptError) as info:
        Script.from_obj(obj, source="s.json")
    msg = str(info.value)
    assert "\n" not in msg, "a script error is one line"
    return msg


# -- the public surface ------------------------------------------------------------------------


def test_public_names() -> None:
    assert set(codeswarm.mockmodel.__all__) == {
        "DEFAULT_AGENT", "EXHAUSTED_TEXT", "MODEL", "PROVIDER_ID", "Entry", "ExecCall",
        "MockModel", "Playback", "Script", "Usage", "codex_overrides", "latest_user_text",
        "load_script", "to_codex_flags",
    }  # fmt: skip
    for name in codeswarm.mockmodel.__all__:
        assert hasattr(codeswarm.mockmodel, name)


# -- loading files -------------------------------------------------------------------------------

SAMPLE = {
    "agents": {
        "*": [
            {"text": "Hello", "usage": {"input_tokens": 120, "output_tokens": 30}},
            {"exec": "echo hi > out.txt"},
            {"patch": "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n"},
            {"tool": "some_mcp_tool_name", "arguments": {"k": "v"}},
            {"fail": "boom"},
            {"http_status": 500},
            {"delay": 1.5, "text": "slow answer"},
            {"when": "regex on the latest user message", "text": "matched reply"},
        ]
    }
}


def test_json_and_yaml_load_the_same(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "s.json").write_text(json.dumps(SAMPLE))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SAMPLE))
    (tmp_path / "s.YML").write_text(yaml.safe_dump(SAMPLE))
    loaded = [load_script(tmp_path / n) for n in ("s.json", "s.yaml", "s.YML")]
    assert loaded[0].agents == loaded[1].agents == loaded[2].agents
    entries = loaded[0].agents["*"]
    assert len(entries) == 8
    assert entries[0].usage is not None and entries[0].usage.input_tokens == 120
    assert entries[1].exec_call == ExecCall(cmd="echo hi > out.txt")
    assert entries[3].mcp_call == ("codeswarm", "some_mcp_tool_name")
    assert loaded[1].source == str(tmp_path / "s.yaml")


def test_yaml_int_agent_keys_mean_ranks(tmp_path: Path) -> None:
    (tmp_path / "s.yml").write_text("agents:\n  0:\n    - hello from rank zero\n")
    s = load_script(tmp_path / "s.yml")
    assert s.entries_for("demo_0") == ("0", (Entry(text="hello from rank zero"),))


def test_bare_string_entry_is_text() -> None:
    assert script("hi").agents["*"] == (Entry(text="hi"),)


def test_error_names_file_and_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad = {"agents": {"*": [{"text": "a"}, {"text": "b"}, {"text": "c"}, {"txt": "d"}]}}
    Path("script.json").write_text(json.dumps(bad))
    with pytest.raises(
        ScriptError, match=r"^script\.json: agents\.\"\*\"\[3\]: unknown key 'txt'$"
    ):
        load_script("script.json")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.json", None, "missing.json: no such file"),
        ("s.json", '{"agents": {', "s.json: invalid JSON (line 1, column 13)"),
        ("s.yaml", "agents: [unclosed", "s.yaml: invalid YAML (line 1, column 18)"),
        ("s.json", "[]", "s.json: expected a mapping with an 'agents' key, got a list"),
        ("s.json", "{}", "s.json: missing top-level key 'agents'"),
        ("s.yaml", "agents: {}\nextra: 1\n", "s.yaml: unknown top-level key 'extra'"),
        ("s.json", '{"agents": []}', "s.json: agents: expected a mapping, got a list"),
        ("s.json", '{"agents": {"x": 1}}', "s.json: agents.x: expected a list of entries, got int"),
        ("s.json", '{"agents": {"*": [1]}}', 'agents."*"[0]: expected an entry'),
        (
            "s.yaml",
            "agents: {'*': [text: 1]}",
            's.yaml: agents."*"[0]: text: expected str, got int',
        ),
    ],
)
def test_file_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: str | None, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if content is not None:
        Path(name).write_text(content)
    with pytest.raises(ScriptError) as info:
        load_script(name)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_directory_is_not_a_script(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="is a directory"):
        load_script(tmp_path)


def test_unreadable_bytes(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ScriptError, match="cannot read"):
        load_script(tmp_path / "s.json")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"txt": "x"}, "unknown key 'txt'"),
        ({"text": 3}, "text: expected str, got int"),
        (
            {"text": "a", "usage": {"input_tokens": "x", "output_tokens": 1}},
            "usage.input_tokens: expected int",
        ),
        ({"text": "a", "usage": {"input_tokens": 1}}, "usage: missing key 'output_tokens'"),
        (
            {"text": "a", "usage": {"input_tokens": -1, "output_tokens": 1}},
            "usage.input_tokens: expected int >= 0",
        ),
        (
            {"text": "a", "usage": {"input_tokens": 1, "output_tokens": 1, "cache": 1}},
            "usage: unknown key 'cache'",
        ),
        ({"exec": {"command": "ls"}}, "exec: unknown key 'command'"),
        ({"exec": ["ls"]}, "exec: expected str | object, got array"),
        ({"exec": "  "}, "exec: empty command"),
        ({"text": "a", "delay": -1}, "delay: expected float >= 0"),
        ({"text": "a", "delay": True}, "delay: expected float, got bool"),
        ({"text": "a", "hold": ""}, "hold: expected str of length >= 1"),
        ({"text": "a", "chunk": 0}, "chunk: expected int >= 1"),
        ({"http_status": 200}, "http_status: expected int >= 400"),
        ({}, "entry does nothing"),
        ({"delay": 2, "when": "x"}, "entry does nothing"),
        ({"exec": "ls", "patch": "p"}, "'exec' and 'patch' cannot be combined"),
        ({"http_status": 500, "text": "a"}, "cannot be combined with 'text'"),
        ({"http_status": 500, "usage": {"input_tokens": 1, "output_tokens": 1}}, "with 'usage'"),
        ({"text": "a", "body": {}}, "'body' needs 'http_status'"),
        ({"text": "a", "server": "s"}, "'server' needs 'tool'"),
        ({"text": "a", "arguments": {}}, "'arguments' needs 'tool'"),
        ({"fail": "x", "cut": True}, "'fail' and 'cut' cannot be combined"),
        ({"fail": "x", "exec": "ls"}, "'fail' cannot be combined with 'exec'"),
        ({"cut": True, "patch": "p"}, "'cut' cannot be combined with 'patch'"),
        ({"text": "a", "repeat": True}, "'repeat' needs 'when'"),
        ({"when": "x", "repeat": True, "exec": "ls"}, "answer its own tool output forever"),
        ({"when": "(", "text": "a"}, "when: bad regular expression '('"),
        ({"tool": "a/b", "server": "c"}, "not both"),
        ({"tool": "a/"}, "tool: expected 'name' or 'server/name'"),
        ({"tool": "a/b/c"}, "tool: expected 'name' or 'server/name'"),
        ({"tool": "t", "arguments": "{"}, "arguments: not valid JSON"),
        ({"tool": "t", "arguments": "[1]"}, "arguments: expected a JSON object"),
        ({"tool": "t", "arguments": 5}, "arguments: expected str | object, got int"),
    ],
)
def test_entry_errors(entry: dict[str, Any], expected: str) -> None:
    msg = error_of({"agents": {"demo_0": [{"text": "fine"}, entry]}})
    assert msg.startswith("s.json: agents.demo_0[1]: ")
    assert expected in msg


def test_odd_agent_keys_are_quoted() -> None:
    assert error_of({"agents": {"two words": [{}]}}).startswith('s.json: agents."two words"[0]: ')
    assert error_of({"agents": {"0": [{}]}}).startswith('s.json: agents."0"[0]: ')


def test_valid_combinations() -> None:
    s = script(
        {"text": "first", "exec": {"cmd": "ls", "workdir": "/tmp"}},
        {"reasoning": "hmm", "patch": "*** Begin Patch\n*** End Patch\n"},
        {"text": "partial", "cut": True},
        {"text": "partial", "fail": "then broke"},
        {"http_status": 503, "body": "busy", "delay": 1},
        {"tool": "srv/t", "arguments": '{"a": 1}'},
        {"when": "x", "repeat": True, "text": "again"},
        {"text": "a", "note": "a comment for the reader", "chunk": 2, "delta_delay": 0.1},
    )
    assert len(s.agents["*"]) == 8


# -- properties: whatever the input, a Script or one ScriptError line ---------------------------

ANY_JSON = json_values()
entry_keys = st.sampled_from(
    ["text", "exec", "patch", "tool", "server", "arguments", "fail", "http_status", "body",
     "cut", "usage", "when", "repeat", "delay", "hold", "delta_delay", "chunk", "reasoning",
     "bogus"]
)  # fmt: skip


def outcome(obj: object) -> Script | str:
    """The loaded script, or the error message (checked to be one line naming the source)."""
    try:
        return Script.from_obj(obj, source="p.json")
    except ScriptError as exc:
        msg = str(exc)
    assert msg.startswith("p.json: ")
    assert "\n" not in msg
    return msg


@given(st.dictionaries(entry_keys, ANY_JSON, max_size=4))
@example({"exec": {"\n": None}})  # a key with a newline, unknown: said escaped, on one line
@example({"\r\n": 1})
def test_any_entry_loads_or_fails_in_one_line(entry: dict[str, Any]) -> None:
    result = outcome({"agents": {"*": [entry]}})
    if isinstance(result, str):
        assert result.startswith('p.json: agents."*"[0]: ')
    else:
        (loaded,) = result.agents["*"]
        assert loaded.to_dict() == Entry(**loaded.to_dict()).to_dict()


@given(ANY_JSON)
def test_any_document_loads_or_fails_in_one_line(obj: object) -> None:
    outcome(obj)


@given(st.text(), st.none() | st.integers(min_value=1, max_value=50))
def test_split_text_joins_back(text: str, chunk: int | None) -> None:
    deltas = split_text(text, chunk)
    assert "".join(deltas) == text
    assert deltas
    if chunk is not None:
        assert all(len(d) <= chunk for d in deltas)


def test_split_text_default_is_a_few_words() -> None:
    assert split_text("one two three four five six seven", None) == [
        "one two three ",
        "four five six ",
        "seven",
    ]


toml_values = st.recursive(
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(min_size=1, max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@given(toml_values)
def test_toml_values_round_trip(value: Any) -> None:
    parsed = tomllib.loads(f"k = {toml_value(value)}")["k"]
    assert parsed == value or (isinstance(value, float) and math.isclose(parsed, value))


def test_to_codex_flags() -> None:
    cfg = {"model": "gpt-5.5", "features.plugins": False, "p.x": {"n": 1, "odd key": ["a"]}}
    assert to_codex_flags(cfg) == [
        "-c", 'model="gpt-5.5"', "-c", "features.plugins=false",
        "-c", 'p.x={n = 1, "odd key" = ["a"]}',
    ]  # fmt: skip
    with pytest.raises(TypeError):
        to_codex_flags({"x": None})
    with pytest.raises(TypeError):
        to_codex_flags({"x": math.inf})


# -- selection ------------------------------------------------------------------------------------


def test_entries_play_in_order_then_exhaust() -> None:
    pb = script("a", "b").playback("demo_0")
    assert pb.pick("") == (0, Entry(text="a"))
    assert pb.remaining == 1
    assert pb.pick("") == (1, Entry(text="b"))
    index, entry = pb.pick("")
    assert index is None and entry.text == EXHAUSTED_TEXT
    assert pb.pick("")[0] is None


def test_when_entries_win_and_are_consumed_once() -> None:
    s = script("first", {"when": r"deploy\b", "text": "deploying"}, "second")
    pb = s.playback("x_1")
    assert pb.pick("please deploy now") == (1, Entry(when=r"deploy\b", text="deploying"))
    assert pb.pick("please deploy now") == (0, Entry(text="first"))
    assert pb.pick("deploy") == (2, Entry(text="second"))
    assert pb.pick("deploy")[0] is None


def test_when_waits_for_its_prompt() -> None:
    s = script({"when": "^stop$", "text": "stopping"}, "a")
    pb = s.playback("x_1")
    assert pb.pick("go") == (1, Entry(text="a"))
    assert pb.pick("go")[0] is None, "a when entry is never played in sequence"
    assert pb.pick("stop")[0] == 0


def test_a_when_pair_covers_a_tool_round_trip() -> None:
    """The follow-up request after a call carries the same user message (docs example)."""
    s = script(
        {"when": "(?i)run the tests", "exec": "pytest -q"},
        {"when": "(?i)run the tests", "text": "All tests pass."},
        "I only know how to run the tests.",
    )
    pb = s.playback("x_1")
    assert [pb.pick("Please run the tests")[0] for _ in range(3)] == [0, 1, 2]


def test_repeat_when_entry() -> None:
    s = script({"when": "ping", "text": "pong", "repeat": True}, "other")
    pb = s.playback("x_1")
    assert [pb.pick("ping")[0] for _ in range(3)] == [0, 0, 0]
    assert pb.pick("nothing") == (1, Entry(text="other"))


def test_first_matching_when_in_list_order() -> None:
    s = script({"when": "a", "text": "1"}, {"when": "ab", "text": "2"})
    pb = s.playback("x_1")
    assert pb.pick("ab")[0] == 0
    assert pb.pick("ab")[0] == 1


def test_each_agent_has_its_own_cursor() -> None:
    s = script("a", "b")
    one, two = s.playback("demo_0"), s.playback("demo_1")
    assert one.pick("")[1].text == "a"
    assert one.pick("")[1].text == "b"
    assert two.pick("")[1].text == "a"


def test_lookup_exact_then_rank_then_wildcard() -> None:
    s = Script.from_obj(
        {"agents": {"demo_1": ["exact"], "1": ["rank one"], "2": ["rank two"], "*": ["any"]}}
    )
    assert s.entries_for("demo_1")[0] == "demo_1"
    assert s.entries_for("other_1")[0] == "1"
    assert s.entries_for("demo_02")[0] == "2"
    assert s.entries_for("demo_3")[0] == "*"
    assert s.entries_for("default")[0] == "*"
    assert Script.from_obj({"agents": {"1": ["x"]}}).entries_for("demo_0") == (None, ())
    pb = Script.from_obj({"agents": {}}).playback("demo_0")
    assert pb.key is None and pb.pick("")[0] is None


def test_latest_user_text_skips_codex_context() -> None:
    body = {
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "first"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "second"}, {"type": "input_image"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>\n  <cwd>/x</cwd>\n</environment_context>"}]},
            {"type": "function_call", "call_id": "c", "name": "exec_command", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "done"},
        ]
    }  # fmt: skip
    assert latest_user_text(body) == "second"
    assert latest_user_text({"input": "plain string"}) == "plain string"
    assert (
        latest_user_text({"input": [{"role": "user", "content": "str content"}]}) == "str content"
    )
    assert latest_user_text({"input": []}) == ""
    assert latest_user_text({}) == ""
    assert latest_user_text([1, 2]) == ""


def test_entry_helpers() -> None:
    assert Entry(tool="t").mcp_call == ("codeswarm", "t")
    assert Entry(tool="t", server="s").mcp_call == ("s", "t")
    assert Entry(tool="s/t").mcp_call == ("s", "t")
    assert Entry(text="x").mcp_call is None
    assert Entry(tool="t").arguments_json == "{}"
    assert json.loads(Entry(tool="t", arguments={"k": "v"}).arguments_json) == {"k": "v"}
    assert Entry(tool="t", arguments='{"a":1}').arguments_json == '{"a":1}'
    assert Entry(exec=ExecCall(cmd="ls")).to_dict() == {"exec": {"cmd": "ls"}}
    assert Entry(exec="ls").exec_call == ExecCall(cmd="ls")
    assert Entry(text="x", usage=None, delay=0.0).to_dict() == {"text": "x"}
