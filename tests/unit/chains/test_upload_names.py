"""Upload names: only the base name is used, and a name no file may have is refused."""

import pytest

from chains.errors import UnsupportedFileError
from chains.loaders import load_upload


@pytest.mark.parametrize(
    ("name", "kept"),
    [("../../etc/passwd.txt", "passwd.txt"), ("/abs/notes.md", "notes.md"), ("a/b/c.txt", "c.txt")],
)
def test_an_upload_keeps_only_its_base_name(name, kept):
    assert load_upload(name, b"Some text.").metadata["source"] == kept


@pytest.mark.parametrize("name", ["notes\x00.txt", "bell\x07.md", "line\nbreak.txt"])
def test_an_upload_name_with_a_control_character_is_refused_clearly(name):
    """Regression: a NUL in the name reached ``write_bytes`` and became an internal error."""
    with pytest.raises(UnsupportedFileError, match="holds a control character"):
        load_upload(name, b"Some text.")
