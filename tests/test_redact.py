from fixtures.redact import MASK, Redactor


def test_known_secrets_userinfo_and_auth_headers_are_masked():
    redact = Redactor(["tok-abcdef"])
    text = redact("key tok-abcdef in http://alice:pw@host/x and Authorization: Bearer other-token")
    assert "tok-abcdef" not in text and "alice:pw" not in text and "other-token" not in text
    assert text.count(MASK) == 3


def test_headers_blank_credentials():
    assert Redactor([]).headers({"Authorization": "Bearer x", "Accept": "a"}) == {"Authorization": MASK, "Accept": "a"}
