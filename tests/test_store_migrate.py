"""Opening an older database migrates it in place without losing rows."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from venclient.model import PENDING
from venclient.runtime import Runtime
from fixtures.core import make_settings

OLD_SCHEMA = """
CREATE TABLE connections (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, actortype TEXT,
    host TEXT, port INTEGER, topic TEXT, file TEXT, username TEXT, password TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE resources (id INTEGER PRIMARY KEY AUTOINCREMENT, resource_id TEXT UNIQUE NOT NULL,
    resource_name TEXT NOT NULL, resource_type TEXT, resource_sub_type TEXT, meter_point_id TEXT,
    connection_id INTEGER, capacities TEXT, location TEXT, address TEXT, ven TEXT, enabled INTEGER DEFAULT 1,
    reporting INTEGER DEFAULT 1, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, FOREIGN KEY (connection_id) REFERENCES connections(id));
CREATE INDEX idx_ven ON resources(ven);
"""


def make_old_db(path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.executemany("INSERT INTO resources (resource_id, resource_name, resource_type, resource_sub_type, "
                     "meter_point_id, capacities, location, address, ven) VALUES (?,?,?,?,?,?,?,?,?)",
                     [(f"old-{i}", f"Hotel {i}", "DSR", "hotels", f"707057500{i:09d}",
                       json.dumps({"MAX_POWER_CONSUMPTION": 50}), json.dumps({"longitude": 9.9, "latitude": 57.0}),
                       f"Algade {i}, 9000 Aalborg", "Aalborg") for i in range(5)])
    conn.commit()
    conn.close()


def columns(path, table) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    finally:
        conn.close()


def test_old_database_is_migrated_on_open(tmp_path):
    db = tmp_path / "old.db"
    make_old_db(db)
    assert "h5_meter_id" not in columns(db, "resources")
    rt = Runtime.create(make_settings(tmp_path, database_url=f"sqlite:///{db}"))
    store = rt.store()
    assert "added column resources.h5_meter_id" in store.migrations
    assert "added column resources.registration_status" in store.migrations
    assert "created table loads" in store.migrations
    assert {"h5_meter_id", "registration_status"} <= columns(db, "resources")
    resources = store.list_resources()
    assert [r.resource_id for r in resources] == [f"old-{i}" for i in range(5)]
    assert all(r.registration_status == PENDING for r in resources)
    assert resources[0].capacities == {"MAX_POWER_CONSUMPTION": 50}
    assert store.migrate() == []  # idempotent
    rt.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_ven_db_migrate_command(tmp_path):
    db = tmp_path / "old.db"
    make_old_db(db)
    env = {"VEN_DATABASE_URL": f"sqlite:///{db}", "VEN_H5_PATH": str(tmp_path / "x.h5"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "venclient.cli", "db", "migrate", "--json"], env=env,
                         capture_output=True, text=True, check=True)
    changes = json.loads(out.stdout)["changes"]
    assert "created table loads" in changes
    again = subprocess.run([sys.executable, "-m", "venclient.cli", "db", "migrate"], env=env,
                           capture_output=True, text=True, check=True)
    assert "up to date" in again.stdout
