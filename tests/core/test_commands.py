"""Parsing command lines once, for every platform."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from core.commands import (
    Arg, ArgError, Feature, Int, MoneyArg, Registry, Text, Word, Zone, bind_args, choice,
    parse_duration, split_command,
)


def test_slash_bang_and_addressed_commands():
    assert split_command("/help").words == ["help"]
    assert split_command("!help relay").words == ["help", "relay"]
    assert split_command("/help@tessera_bot", ["tessera_bot"]).words == ["help"]
    assert split_command("/help@other_bot", ["tessera_bot"]) is None
    assert split_command("hello /help") is None
    assert split_command("/circle join 'New York' US").words == ["circle", "join", "New York", "US"]
    # An unbalanced quote is not a crash: the words are split plainly.
    assert split_command('/relay report "unfinished').words == ["relay", "report", '"unfinished']


@given(st.text(alphabet=st.sampled_from(list("ab c\t\n\r\u00a0\u2003\u00e9!,.-_@#1'\"\\")),
               max_size=30))
def test_words_split_as_a_shell_would(rest):
    # Lines without quotes take a quicker path; it must cut exactly where shlex cuts
    # (a no-break space stays inside a word, a tab or newline separates).
    import shlex
    try:
        want = shlex.split(rest.strip())
    except ValueError:
        want = rest.strip().split()
    assert split_command("/x " + rest).words[1:] == want


def _feature():
    f = Feature("t")

    @f.command("relay start", args=[Arg("title", Word), Arg("hours", Int, required=False, default=72),
                                    Arg("note", Text, required=False, rest=True)])
    async def start(ctx, title, hours, note):
        return None

    @f.command("vote", args=[Arg("ballot", Int), Arg("choice", choice("yes", "no", "abstain"))])
    async def vote(ctx, ballot, choice):
        return None

    return f


def test_binding_positional_named_and_rest():
    reg = Registry([_feature()])
    cmd, rest = reg.find(["relay", "start", "Wages", "48", "bring", "friends"])
    assert cmd.name == "relay start"
    assert bind_args(cmd, rest) == {"title": "Wages", "hours": 48, "note": "bring friends"}
    assert bind_args(cmd, ["Wages", "hours=12"])["hours"] == 12
    assert bind_args(cmd, ["Wages"]) == {"title": "Wages", "hours": 72, "note": None}
    with pytest.raises(ArgError) as e:
        bind_args(cmd, [])
    assert e.value.key == "args.missing"
    vote, _ = reg.find(["vote"])
    assert bind_args(vote, ["#12", "y"]) == {"ballot": 12, "choice": "yes"}
    with pytest.raises(ArgError) as e:
        bind_args(vote, ["12", "yes", "extra"])
    assert e.value.key == "args.too_many"
    assert cmd.usage() == "/relay start <title> [hours] [note...]"


def test_registry_refuses_a_command_declared_twice_and_suggests():
    f = _feature()
    with pytest.raises(ValueError):
        Registry([f, _feature()])
    reg = Registry([f])
    assert reg.suggest(["vot"]) == "vote"
    assert reg.suggest(["relay", "strat"]) == "relay start"
    assert reg.suggest(["zzzzzz"]) is None
    assert reg.groups() == {"relay"}


def test_typed_arguments():
    assert Zone.parse("africa/lagos") == "Africa/Lagos"
    assert Zone.parse("Lagos") == "Africa/Lagos"
    with pytest.raises(ArgError) as e:
        Zone.parse("Europe/Berlinn")
    assert e.value.params["suggestion"] == "Europe/Berlin"
    assert str(MoneyArg.parse("250 EUR")) == "250.00 EUR"
    with pytest.raises(ArgError):
        MoneyArg.parse("250 EURO")
    assert parse_duration("1d12h").total_seconds() == 36 * 3600
    for bad in ("", "0h", "3x", "h3"):
        with pytest.raises(ArgError):
            parse_duration(bad)


@given(st.text(max_size=200))
def test_no_text_crashes_the_parser(text):
    parsed = split_command(text, ["tessera_bot"])
    if parsed is not None:
        assert parsed.words and parsed.words[0]
        reg = Registry([_feature()])
        found = reg.find(parsed.words)
        if found:
            try:
                bind_args(*found)
            except ArgError:
                pass
