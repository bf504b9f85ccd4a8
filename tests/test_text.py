from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trendml.text import combine_text, content_hash, normalise_text


def test_html_entities_are_decoded_even_when_double_encoded():
    assert normalise_text("a &amp; b") == "a & b"
    assert normalise_text("laughing &amp;#128514;") == "laughing \U0001f602"


def test_urls_mentions_retweets_and_whitespace():
    raw = "RT @some_user: look   at this\nhttps://t.co/abc123 and www.example.com/x  @other"
    assert normalise_text(raw) == "look at this URL and URL @USER"


def test_email_is_not_a_mention():
    assert normalise_text("mail me at bob@example.org") == "mail me at bob@example.org"


def test_control_characters_dropped():
    assert normalise_text("a\x00b\x07c") == "abc"


@given(st.text(max_size=200))
def test_normalise_is_idempotent(s):
    once = normalise_text(s)
    assert normalise_text(once) == once


def test_combine_rule_joins_text_and_caption():
    assert combine_text("hello  there", None) == "hello there"
    assert combine_text(None, "a caption") == "a caption"
    assert combine_text("text", "caption") == "text | caption"
    assert combine_text("", "  ") == ""


def test_identical_content_after_normalisation_shares_a_hash():
    a = combine_text("@alice you are awful https://x.co/1", None)
    b = combine_text("@bob you are awful https://x.co/2", None)
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(combine_text("you are great", None))
