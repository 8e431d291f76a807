"""Strings from a VTN or a device reach the terminal and the log without control sequences, bounded in length."""

from __future__ import annotations

import logging

from venclient.safe_text import PrintableLogFilter, printable


def test_escape_sequences_and_newlines_become_visible():
    assert printable("peak\x1b[2J\x1b]0;owned\x07shave") == "peak\\x1b[2J\\x1b]0;owned\\x07shave"
    assert printable("ok\nERROR forged line\r") == "ok\\nERROR forged line\\r"
    assert printable("c1 \x9b31m") == "c1 \\x9b31m"


def test_bidirectional_overrides_are_escaped():
    assert printable("evil\u202etxt.exe") == "evil\\u202etxt.exe"


def test_plain_text_and_unicode_letters_pass_unchanged():
    assert printable("Birkerød — Ærø 15 kW") == "Birkerød — Ærø 15 kW"
    assert printable(42) == "42"


def test_long_text_is_cut_with_a_count():
    assert printable("x" * 250, limit=200) == "x" * 200 + "… (50 more characters)"


def test_the_log_filter_renders_records_safely(caplog):
    logger = logging.getLogger("test.safe_text")
    handler_filter = PrintableLogFilter(limit=60)
    record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "VTN said %r: %s",
                               ("\x1b[31mred", "body\nERROR fake"), None)
    assert handler_filter.filter(record)
    assert record.getMessage() == "VTN said '\\x1b[31mred': body\\nERROR fake"
    long = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "%s", ("y" * 100,), None)
    handler_filter.filter(long)
    assert long.getMessage() == "y" * 60 + "… (40 more characters)"


def test_an_error_sentence_quoting_a_vtn_is_printed_without_control_sequences(capfd):
    import pytest

    from venclient.cli.app import _fail

    with pytest.raises(SystemExit) as exit_info:
        _fail("The VTN answered 400: \x1b[2Jbad\nERROR forged", 2)
    assert exit_info.value.code == 2
    err = capfd.readouterr().err
    assert "\x1b" not in err and "Error: The VTN answered 400: \\x1b[2Jbad\\nERROR forged" in err


def test_table_cells_are_printable():
    from venclient.cli.output import table

    rendered = table(None, ["name"], [["ev\x1b[2Jclear"]])
    assert list(rendered.columns[0].cells) == ["ev\\x1b[2Jclear"]
