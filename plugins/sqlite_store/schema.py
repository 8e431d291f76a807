"""The seeds' schema as SQLAlchemy Core tables (portable to SQLite and PostgreSQL).

Tables ``connections``, ``resources``, ``loads`` keep the seeds' columns and indexes; ``vens`` keeps each
VEN's VTN id; ``outbox`` holds reports until the VTN accepts them; ``runtime_state`` keeps small facts a
restart continues from (the replay clock's row); ``backlog`` keeps readings no report request covers yet;
``leases`` says which process works on which VEN; ``event_state``, ``event_opt_outs`` and ``resource_groups``
keep what the event scheduler needs across restarts; ``report_accumulators`` the per event interval totals of
event-aligned reports; ``load_history_hourly`` the hourly energy the history baseline is computed from.  JSON columns are TEXT holding JSON
(as in the seeds), booleans INTEGER 0/1.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
NOW = sa.text("CURRENT_TIMESTAMP")

connections = sa.Table(
    "connections", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("actortype", sa.Text, nullable=False, server_default="reader"),
    sa.Column("host", sa.Text),
    sa.Column("port", sa.Integer),
    sa.Column("topic", sa.Text),
    sa.Column("file", sa.Text),
    sa.Column("username", sa.Text),
    sa.Column("password", sa.Text),  # a reference such as "env:MQTT_PASSWORD", never the secret
    sa.Column("params", sa.Text),    # JSON: kind-specific options
    sa.Column("created_at", sa.DateTime, server_default=NOW),
)

resources = sa.Table(
    "resources", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("resource_id", sa.Text, nullable=False, unique=True),
    sa.Column("resource_name", sa.Text, nullable=False),
    sa.Column("resource_type", sa.Text),
    sa.Column("resource_sub_type", sa.Text),
    sa.Column("meter_point_id", sa.Text),
    sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.id")),
    sa.Column("capacities", sa.Text),
    sa.Column("location", sa.Text),
    sa.Column("address", sa.Text),
    sa.Column("ven", sa.Text),
    sa.Column("enabled", sa.Integer, server_default="1"),
    sa.Column("reporting", sa.Integer, server_default="1"),
    sa.Column("registration_status", sa.Text, server_default="PENDING"),
    sa.Column("h5_meter_id", sa.Text),
    sa.Column("writer_connection_id", sa.Integer, sa.ForeignKey("connections.id")),
    sa.Column("created_at", sa.DateTime, server_default=NOW),
    sa.Column("updated_at", sa.DateTime, server_default=NOW),
    sa.Index("idx_resource_id", "resource_id"),
    sa.Index("idx_meter_point_id", "meter_point_id"),
    sa.Index("idx_resource_type", "resource_type"),
    sa.Index("idx_ven", "ven"),
)

loads = sa.Table(
    "loads", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("load_id", sa.Text, nullable=False, unique=True),
    sa.Column("resource_id", sa.Text, sa.ForeignKey("resources.resource_id"), nullable=False),
    sa.Column("load_component", sa.Text, nullable=False),
    sa.Column("load_name", sa.Text),
    sa.Column("h5_meter_id", sa.Text, nullable=False),
    sa.Column("vtn_resource_id", sa.Text),
    sa.Column("registration_status", sa.Text, server_default="PENDING"),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime, server_default=NOW),
    sa.Column("updated_at", sa.DateTime, server_default=NOW),
    sa.Index("idx_load_resource_id", "resource_id"),
    sa.Index("idx_load_h5_meter_id", "h5_meter_id"),
    sa.Index("idx_load_vtn_resource_id", "vtn_resource_id"),
)

vens = sa.Table(
    "vens", metadata,
    sa.Column("ven_name", sa.Text, primary_key=True),
    sa.Column("vtn_ven_id", sa.Text),
    sa.Column("vtn_url", sa.Text),
    sa.Column("updated_at", sa.DateTime, server_default=NOW),
)

runtime_state = sa.Table(
    "runtime_state", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("updated_at", sa.DateTime, server_default=NOW),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ven", sa.Text, nullable=False),
    sa.Column("program_id", sa.Text),
    sa.Column("event_id", sa.Text),
    sa.Column("tick_ms", sa.BigInteger),
    sa.Column("payload", sa.Text, nullable=False),   # the report, JSON as sent on the wire
    # len(payload), so the outbox can bound the text in flight before it reads a payload (NULL in older rows)
    sa.Column("payload_bytes", sa.Integer),
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),  # pending | rejected
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", sa.Float, nullable=False, server_default="0"),  # unix seconds
    # 1 while an attempt may have reached the VTN (set before each send, cleared when the answer proves it did
    # not): such a report is looked up by reportName before it is sent again.  Read only once attempts > 0;
    # the default 1 keeps rows of older databases on the safe side.
    sa.Column("maybe_delivered", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", sa.DateTime, server_default=NOW),
    sa.Index("idx_outbox_ven_state", "ven", "state", "id"),
)

# -------------------------------------------------------------------------------------------------- backlog
# Readings collected while no report request is known (`ven run`), one row per VEN and tick: the VEN's values
# as float64 bytes (NaN = no value) and quality codes as uint8 bytes, aligned with a layout (the VEN's load ids
# in order) that many ticks share.  ``tick_no`` orders the ticks; rows leave when their reports enter the outbox.
backlog_layouts = sa.Table(
    "backlog_layouts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ven", sa.Text, nullable=False),
    sa.Column("digest", sa.Text, nullable=False, unique=True),  # sha256 of the VEN name and its load ids
    sa.Column("load_ids", sa.Text, nullable=False),             # newline-separated, in value order
    sa.Column("created_at", sa.DateTime, server_default=NOW),
)

backlog = sa.Table(
    "backlog", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ven", sa.Text, nullable=False),
    sa.Column("tick_no", sa.BigInteger, nullable=False),
    sa.Column("tick_index", sa.Integer, nullable=False),  # the clock's row
    sa.Column("tick_ms", sa.BigInteger, nullable=False),  # the tick's time, Unix milliseconds
    sa.Column("layout_id", sa.Integer, nullable=False),
    sa.Column("power", sa.LargeBinary, nullable=False),
    sa.Column("quality", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime, server_default=NOW),
    sa.Index("idx_backlog_ven_tick", "ven", "tick_no"),
)

# -------------------------------------------------------------------------------------------------- leases
# One row per VEN a process works on (`ven run`, `ven register`): who holds it and until when (Unix seconds of
# the holder's clock).  A live holder renews ``expires_at``; a row past it may be taken by another process.
leases = sa.Table(
    "leases", metadata,
    sa.Column("ven", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),   # "<host>:<pid>:<run id>"
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("command", sa.Text, nullable=False),  # e.g. "ven run"
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# -------------------------------------------------------------------------------------------------- events
# What a VEN keeps per event across restarts (`ven run`'s scheduler): when it first obtained the event (the
# 'do it now' origin, Unix seconds) and the integer its randomizeStart draws come from.
event_state = sa.Table(
    "event_state", metadata,
    sa.Column("ven", sa.Text, primary_key=True),
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
)

# Opt-outs: the loads of ``resource_id`` (or of every resource: ``"*"``) are not acted on for ``event_id``.
event_opt_outs = sa.Table(
    "event_opt_outs", metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("resource_id", sa.Text, primary_key=True),
    sa.Column("created_at", sa.DateTime, server_default=NOW),
)

# The group of a resource (targeted by an event's GROUP target, registered as its GROUP attribute).
resource_groups = sa.Table(
    "resource_groups", metadata,
    sa.Column("resource_id", sa.Text, primary_key=True),
    sa.Column("group_name", sa.Text, nullable=False),
    sa.Index("idx_resource_groups_group", "group_name"),
)

# -------------------------------------------------------------------------------------------------- reports
# Per event interval totals of event-aligned reports (`ven run`, venclient.engine.accumulate): one row per VEN,
# event and interval key, the VEN's loads' channels as bytes aligned with ``load_ids`` (newline-separated).
report_accumulators = sa.Table(
    "report_accumulators", metadata,
    sa.Column("ven", sa.Text, primary_key=True),
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("interval_key", sa.Text, primary_key=True),  # "<interval id>@<start ISO 8601>"
    sa.Column("load_ids", sa.Text, nullable=False),
    sa.Column("energy", sa.LargeBinary, nullable=False),    # float64 Wh per load
    sa.Column("baseline", sa.LargeBinary, nullable=False),  # float64 Wh per load (NaN: no baseline)
    sa.Column("seconds", sa.LargeBinary, nullable=False),   # float64 seconds seen per load
    sa.Column("ticks", sa.LargeBinary, nullable=False),     # int32 ticks seen per load
    sa.Column("register_kwh", sa.LargeBinary, nullable=True),  # float64 last register kWh per load (NaN: none)
    sa.Column("updated_at", sa.DateTime, server_default=NOW),
)

# -------------------------------------------------------------------------------------------------- baselines
# Hourly energy of loads whose source has no baseline of its own (`ven run`, venclient.engine.baseline): one row
# per load and UTC clock hour (Unix seconds of its start), written in the tick's transaction and kept
# ``baseline.history_days`` days; ``event`` 1 when an event controlled the load in that hour.
load_history_hourly = sa.Table(
    "load_history_hourly", metadata,
    sa.Column("load_id", sa.Text, primary_key=True),
    sa.Column("hour_start", sa.BigInteger, primary_key=True),
    sa.Column("energy_wh", sa.Float, nullable=False, server_default="0"),
    sa.Column("seconds", sa.Float, nullable=False, server_default="0"),
    sa.Column("event", sa.Integer, nullable=False, server_default="0"),
    sa.Index("idx_load_history_hour", "hour_start"),
)
