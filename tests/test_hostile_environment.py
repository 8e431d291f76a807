"""A hostile environment: `ven register` on a read-only store stops with one sentence and leaves the SQLite
file intact (a later run continues), and strings a VTN sends (an event name with terminal escapes and
newlines) reach the log of `ven run` escaped."""

from __future__ import annotations

import asyncio
import shlex

from venclient.openadr import ValuesMap
from venclient.plugins.local_vtn import DEMO_PROGRAM
from fixtures.run import VenProcess, make_run_env, ven_env, vtn_reports
from fixtures.vtn import sample_event
from test_run_store_faults import REFUSED, assert_rows_reported_once_in_order, integrity

HOSTILE_NAME = "peak\x1b[2J\x1b]0;pwned\x07\nERROR forged line\r\x9b31m"


def read_only_prefix(folder) -> list[str]:
    """Run the command in a private mount namespace where ``folder`` is a read-only bind mount."""
    quoted = shlex.quote(str(folder))
    return ["unshare", "--mount", "sh", "-c",
            f"mount --bind {quoted} {quoted} && mount -o remount,bind,ro {quoted} && exec \"$0\" \"$@\""]


def test_ven_register_on_a_read_only_store_is_one_sentence_and_a_later_run_continues(tmp_path, local_vtn,
                                                                                       contract):
    env = make_run_env(tmp_path, local_vtn, contract, register=False)
    env.runtime.close()
    environment = ven_env(tmp_path, local_vtn.url)
    proc = VenProcess(tmp_path, environment, "register", name="register-ro", prefix=read_only_prefix(tmp_path))
    try:
        code = proc.wait(60)
        lines = [line for line in proc.stderr_lines if line.strip()]
    finally:
        proc.close()
    assert code != 0, lines
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and REFUSED in errors[0], lines
    assert "Traceback" not in "\n".join(lines)
    assert integrity(tmp_path / "resources.db") == "ok"

    later = VenProcess(tmp_path, environment, "run", "--ticks", "3", "--interval", "1", "--speed", "20",
                       name="later")  # registers first, then reports
    try:
        assert later.wait(90) == 0, later.stderr
    finally:
        later.close()
    assert integrity(tmp_path / "resources.db") == "ok"
    assert_rows_reported_once_in_order(local_vtn.state, env.vens, env.h5_path, range(3))
    assert vtn_reports(local_vtn.state)


async def test_an_event_name_with_terminal_escapes_and_newlines_is_logged_escaped(tmp_path, local_vtn, contract,
                                                                                 bl_transport):
    env = await asyncio.to_thread(make_run_env, tmp_path, local_vtn, contract)
    env.runtime.close()
    program = await bl_transport.find_program(DEMO_PROGRAM)
    event = await bl_transport.create_event(sample_event(program.id, HOSTILE_NAME, targets=[
        ValuesMap(type="VEN_NAME", values=[env.vens[0]])]))
    environment = ven_env(tmp_path, local_vtn.url)
    proc = VenProcess(tmp_path, environment, "run", "--ticks", "2", "--interval", "1", "--speed", "20",
                      "--no-register", name="hostile")
    try:
        assert await asyncio.to_thread(proc.wait, 90) == 0, proc.stderr
        text = proc.stderr
    finally:
        proc.close()
    [line] = [line for line in text.splitlines() if event.id in line and "created event" in line]
    assert "'peak\\x1b[2J\\x1b]0;pwned\\x07\\nERROR forged line\\r\\x9b31m'" in line
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\r" not in text
    assert not any(row.startswith("ERROR forged line") for row in text.splitlines())
