"""Light markup and safe splitting."""
from __future__ import annotations

from hypothesis import given, strategies as st

from core.markup import RLM, _TOKEN, directional, is_rtl, split_text, to_html, to_markdown, to_plain


def test_renderers():
    src = "**Strike** at <Amazon> & __today__: `/relay status` [dossier](https://x.org/d?a=1&b=2)"
    assert to_plain(src) == "Strike at <Amazon> & today: /relay status dossier (https://x.org/d?a=1&b=2)"
    html = to_html(src)
    assert html.startswith("<b>Strike</b> at &lt;Amazon&gt; &amp; <i>today</i>")
    assert '<a href="https://x.org/d?a=1&amp;b=2">dossier</a>' in html
    assert to_markdown("a_b *c*") == "a\\_b \\*c\\*"
    assert is_rtl("ar") and is_rtl("fa-IR") and not is_rtl("tr")


words = st.lists(st.sampled_from(["word", "**bold words**", "`code`", "[l](http://x.y)", "\n",
                                  "\n\n", "x" * 30]), max_size=200)


@given(words, st.integers(min_value=20, max_value=300))
def test_split_respects_the_limit_and_never_cuts_a_token(parts, limit):
    text = " ".join(parts)
    pieces = split_text(text, limit)
    assert all(len(p) <= limit for p in pieces)
    # Every markup token of the original survives whole in some piece.
    for m in _TOKEN.finditer(text):
        if len(m.group(0)) <= limit:
            assert any(m.group(0) in p for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_right_to_left_lines_are_marked():
    text = "/relay status 3\nتقرير من لاغوس\n\n12 عضوا"
    marked = directional(text, "ar")
    assert all(line.startswith(RLM) for line in marked.split("\n") if line)
    assert directional(marked, "ar") == marked  # idempotent
    assert directional(text, "es") == text
