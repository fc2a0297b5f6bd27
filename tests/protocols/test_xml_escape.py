"""The one XML text escaper of the Query and REST-XML renderers."""

from defusedxml.ElementTree import fromstring
from hypothesis import given
from hypothesis import strategies as st

from keyhold.protocols.xml_escape import escape_text


def test_query_and_s3_styles() -> None:
    value = 'a&b<c>"d"\re\x01\ufffe\t\n'
    assert escape_text(value) == 'a&amp;b&lt;c&gt;"d"\re\ufffd\ufffd\t\n'
    assert escape_text(value, s3=True) == "a&amp;b&lt;c&gt;&quot;d&quot;&#13;e\ufffd\ufffd\t\n"


def _carried(char: str, s3: bool) -> str:
    """What a parser reads back for one character: XML turns a raw CR into LF; S3 style keeps it (&#13;)."""
    if char == "\r":
        return "\r" if s3 else "\n"
    if char in "\t\n" or (char >= " " and not 0xD800 <= ord(char) <= 0xDFFF and char not in "\ufffe\uffff"):
        return char
    return "\ufffd"


@given(st.text())
def test_any_text_parses_back(value: str) -> None:
    for s3 in (False, True):
        document = f"<k>{escape_text(value, s3=s3)}</k>".encode("utf-8", "surrogatepass")
        parsed = fromstring(document).text or ""
        assert parsed == "".join(_carried(c, s3) for c in value)
