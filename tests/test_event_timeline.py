"""The event timeline, from the timing examples of the OpenADR 3 User Guide (§7.1, §7.3, §7.4, §7.9, §8).

Each event below is the guide's JSON (or built the way the guide describes it); the expected starts, ends and
values are the ones the guide's text gives.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from venclient.engine.timeline import Slot, Timeline, event_timeline, winning_slot
from venclient.openadr import Event

UTC = timezone.utc
RECEIVED = datetime(2025, 6, 25, 9, 30, tzinfo=UTC)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def event(**fields) -> Event:
    return Event.model_validate({"id": fields.pop("id", "e1"), "programID": "44", **fields})


def spans(timeline: Timeline) -> list[tuple]:
    return [(s.interval_id, s.payload_type, s.values, s.start, s.end) for s in timeline.slots]


def test_example_7_3_1_three_prices_in_one_interval_are_three_hourly_sub_intervals():
    e = event(eventName="multiPriceEvent", payloadDescriptors=[{"payloadType": "PRICE", "units": "KWH",
                                                                 "currency": "USD"}],
              intervals=[{"id": 0, "intervalPeriod": {"start": "2025-06-25T00:00:00.000Z", "duration": "PT3H"},
                          "payloads": [{"type": "PRICE", "values": [0.17, 0.03, 0.11]}]}])
    timeline = event_timeline(e, received=RECEIVED)
    assert spans(timeline) == [
        (0, "PRICE", (0.17,), t("2025-06-25T00:00:00Z"), t("2025-06-25T01:00:00Z")),
        (0, "PRICE", (0.03,), t("2025-06-25T01:00:00Z"), t("2025-06-25T02:00:00Z")),
        (0, "PRICE", (0.11,), t("2025-06-25T02:00:00Z"), t("2025-06-25T03:00:00Z")),
    ]
    assert [s.sub for s in timeline.slots] == [0, 1, 2]
    assert [s.value for s in timeline.active(t("2025-06-25T01:30:00Z"))] == [0.03]


def test_example_7_4_1_variable_intervals_follow_back_to_back_and_override_the_default_duration():
    e = event(eventName="variableIntervalsEvent",
              intervalPeriod={"start": "2023-02-10T00:00:00.000Z", "duration": "PT1H"},
              intervals=[{"id": 0, "payloads": [{"type": "PRICE", "values": [0.17]}]},
                         {"id": 1, "intervalPeriod": {"duration": "PT2H"},
                          "payloads": [{"type": "PRICE", "values": [0.22]}]}])
    assert spans(event_timeline(e, received=RECEIVED)) == [
        (0, "PRICE", (0.17,), t("2023-02-10T00:00:00Z"), t("2023-02-10T01:00:00Z")),
        (1, "PRICE", (0.22,), t("2023-02-10T01:00:00Z"), t("2023-02-10T03:00:00Z")),
    ]


def test_example_8_3_twenty_four_hourly_prices_and_the_client_skipping_ahead_at_6_am():
    e = event(eventName="pricingEvent", intervalPeriod={"start": "2023-02-10T00:00:00.000Z", "duration": "PT1H"},
              intervals=[{"id": i, "payloads": [{"type": "PRICE", "values": [0.1 + i / 100]}]} for i in range(24)])
    timeline = event_timeline(e, received=t("2023-02-10T06:10:00Z"))
    assert len(timeline.slots) == 24
    assert timeline.start == t("2023-02-10T00:00:00Z") and timeline.end == t("2023-02-11T00:00:00Z")
    active = timeline.active(t("2023-02-10T06:10:00Z"))
    assert [(s.interval_id, s.start) for s in active] == [(6, t("2023-02-10T06:00:00Z"))]
    assert timeline.boundaries(t("2023-02-10T22:30:00Z")) == [t("2023-02-10T23:00:00Z"), t("2023-02-11T00:00:00Z")]


def test_example_8_2_1_simple_shed_for_four_hours():
    e = event(eventName="simpleEvent", intervalPeriod={"start": "2025-03-14T00:00:00.000Z", "duration": "PT4H"},
              intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}])
    timeline = event_timeline(e, received=RECEIVED)
    assert spans(timeline) == [(0, "SIMPLE", (1,), t("2025-03-14T00:00:00Z"), t("2025-03-14T04:00:00Z"))]
    assert timeline.active(t("2025-03-14T03:59:59Z")) and not timeline.active(t("2025-03-14T04:00:00Z"))
    assert timeline.finished(t("2025-03-14T04:00:00Z")) and not timeline.finished(t("2025-03-14T03:00:00Z"))


@pytest.mark.parametrize("start", ["0001-01-01", "0001-01-01T00:00:00", "0001-01-01T00:00:00Z"])
def test_do_it_now_with_p9999y_starts_when_received_and_never_ends(start):
    e = event(eventName="alert", intervalPeriod={"start": start, "duration": "P9999Y"},
              intervals=[{"id": 0, "payloads": [{"type": "ALERT_GRID_EMERGENCY", "values": ["grid emergency"]}]}])
    timeline = event_timeline(e, received=RECEIVED)
    assert spans(timeline) == [(0, "ALERT_GRID_EMERGENCY", ("grid emergency",), RECEIVED, None)]
    assert timeline.end is None and not timeline.finished(RECEIVED + timedelta(days=3650))


def test_do_it_now_on_the_first_interval_without_an_event_period_and_followers_after_it():
    e = event(intervals=[{"id": 0, "intervalPeriod": {"start": "0001-01-01", "duration": "PT15M"},
                          "payloads": [{"type": "SIMPLE", "values": [2]}]},
                         {"id": 1, "intervalPeriod": {"start": "0001-01-01", "duration": "PT30M"},
                          "payloads": [{"type": "SIMPLE", "values": [1]}]}])
    assert spans(event_timeline(e, received=RECEIVED)) == [
        (0, "SIMPLE", (2,), RECEIVED, RECEIVED + timedelta(minutes=15)),
        (1, "SIMPLE", (1,), RECEIVED + timedelta(minutes=15), RECEIVED + timedelta(minutes=45)),
    ]


def test_first_interval_at_the_beginning_of_time_takes_the_events_start():
    e = event(intervalPeriod={"start": "2025-03-14T17:00:00Z", "duration": "PT1H"},
              intervals=[{"id": 0, "intervalPeriod": {"start": "0001-01-01"},
                          "payloads": [{"type": "SIMPLE", "values": [1]}]}])
    assert spans(event_timeline(e, received=RECEIVED)) == [
        (0, "SIMPLE", (1,), t("2025-03-14T17:00:00Z"), t("2025-03-14T18:00:00Z"))]


def test_section_7_9_beginning_of_time_with_pt0s_is_a_cancelled_event():
    e = event(intervalPeriod={"start": "0001-01-01", "duration": "PT0S"},
              intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [3]}]}])
    timeline = event_timeline(e, received=RECEIVED)
    assert timeline.cancelled and timeline.slots == () and timeline.finished(RECEIVED)


def test_a_missing_duration_lasts_until_the_next_start_or_forever_but_an_instruction_is_instantaneous():
    e = event(intervals=[{"id": 0, "intervalPeriod": {"start": "2025-03-14T17:00:00Z"},
                          "payloads": [{"type": "SIMPLE", "values": [1]},
                                       {"type": "DISPATCH_INSTRUCTION", "values": ["pre-cool"]}]},
                         {"id": 1, "intervalPeriod": {"start": "2025-03-14T19:00:00Z"},
                          "payloads": [{"type": "SIMPLE", "values": [0]}]}])
    assert spans(event_timeline(e, received=RECEIVED)) == [
        (0, "DISPATCH_INSTRUCTION", ("pre-cool",), t("2025-03-14T17:00:00Z"), t("2025-03-14T17:00:00Z")),
        (0, "SIMPLE", (1,), t("2025-03-14T17:00:00Z"), t("2025-03-14T19:00:00Z")),
        (1, "SIMPLE", (0,), t("2025-03-14T19:00:00Z"), None),
    ]
    instant = event_timeline(e, received=RECEIVED).slots[0]
    assert instant.active_at(t("2025-03-14T17:00:00Z")) and not instant.active_at(t("2025-03-14T17:00:01Z"))


def test_curve_and_unknown_types_keep_their_values_together():
    e = event(intervalPeriod={"start": "2025-03-14T00:00:00Z", "duration": "PT2H"},
              intervals=[{"id": 0, "payloads": [{"type": "CURVE", "values": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]},
                                                {"type": "X_OUR_OWN", "values": [1, 2]}]}])
    slots = event_timeline(e, received=RECEIVED).slots
    assert [(s.payload_type, len(s.values), s.end - s.start) for s in slots] == [
        ("CURVE", 2, timedelta(hours=2)), ("X_OUR_OWN", 2, timedelta(hours=2))]


def test_an_interval_with_its_own_absolute_start_leaves_a_gap():
    e = event(intervalPeriod={"start": "2025-03-14T00:00:00Z", "duration": "PT1H"},
              intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]},
                         {"id": 1, "intervalPeriod": {"start": "2025-03-14T05:00:00Z"},
                          "payloads": [{"type": "SIMPLE", "values": [2]}]},
                         {"id": 2, "payloads": [{"type": "SIMPLE", "values": [3]}]}])
    assert [(s.interval_id, s.start.hour, s.end.hour) for s in event_timeline(e, received=RECEIVED).slots] == [
        (0, 0, 1), (1, 5, 6), (2, 6, 7)]
    assert event_timeline(e, received=RECEIVED).active(t("2025-03-14T03:00:00Z")) == []


def _random_event(bound: str, second_bound: str | None = None) -> Event:
    second = {"start": "2025-03-14T20:00:00Z"} | ({"randomizeStart": second_bound} if second_bound else {})
    return event(intervalPeriod={"start": "2025-03-14T17:00:00Z", "duration": "PT1H", "randomizeStart": bound},
                 intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]},
                            {"id": 1, "payloads": [{"type": "SIMPLE", "values": [2]}]},
                            {"id": 2, "intervalPeriod": second, "payloads": [{"type": "SIMPLE", "values": [0]}]}])


def test_randomize_start_shifts_every_interval_by_one_draw_within_its_bound_and_a_seed_keeps_it():
    plain = event_timeline(_random_event("PT10M"), received=RECEIVED)
    assert [s.start for s in plain.slots] == [t("2025-03-14T17:00:00Z"), t("2025-03-14T18:00:00Z"),
                                              t("2025-03-14T20:00:00Z")]  # no seed: no shift
    shifts = set()
    for seed in range(200):
        timeline = event_timeline(_random_event("PT10M"), received=RECEIVED, seed=seed)
        offsets = {s.start - p.start for s, p in zip(timeline.slots, plain.slots)}
        assert len(offsets) == 1  # contiguous intervals and a later absolute start move together
        offset = offsets.pop()
        assert abs(offset) <= timedelta(minutes=10)
        assert [s.end - s.start for s in timeline.slots] == [timedelta(hours=1)] * 3  # lengths unchanged
        shifts.add(offset)
        again = event_timeline(_random_event("PT10M"), received=RECEIVED, seed=seed)  # e.g. after a restart
        assert again.slots == timeline.slots
    assert len(shifts) > 150  # uniform draws, not one fixed offset
    assert min(shifts) < timedelta(minutes=-5) and max(shifts) > timedelta(minutes=5)  # both directions


def test_an_interval_with_its_own_randomize_start_draws_again():
    moved_apart = 0
    for seed in range(50):
        timeline = event_timeline(_random_event("PT10M", "PT1M"), received=RECEIVED, seed=seed)
        first = timeline.slots[0].start - t("2025-03-14T17:00:00Z")
        third = timeline.slots[2].start - t("2025-03-14T20:00:00Z")
        assert abs(third) <= timedelta(minutes=1)
        moved_apart += first != third
    assert moved_apart == 50


def test_event_duration_shorter_than_the_intervals_cuts_them_off():
    e = event(duration="PT12H", intervalPeriod={"start": "2025-01-01T00:00:00Z", "duration": "PT1H"},
              intervals=[{"id": i, "payloads": [{"type": "PRICE", "values": [i]}]} for i in range(24)])
    timeline = event_timeline(e, received=RECEIVED)
    assert [s.interval_id for s in timeline.slots] == list(range(12))
    assert timeline.end == t("2025-01-01T12:00:00Z")


def test_event_duration_of_a_week_repeats_24_hourly_prices_seven_times():
    e = event(duration="P7D", intervalPeriod={"start": "2025-01-01T00:00:00Z", "duration": "PT1H"},
              intervals=[{"id": i, "payloads": [{"type": "PRICE", "values": [i]}]} for i in range(24)])
    timeline = event_timeline(e, received=RECEIVED, until=t("2026-01-01T00:00:00Z"))
    assert len(timeline.slots) == 7 * 24 and timeline.end == t("2025-01-08T00:00:00Z")
    monday_noon = timeline.active(t("2025-01-06T12:30:00Z"))
    assert [(s.interval_id, s.loop) for s in monday_noon] == [(12, 5)]


def test_event_duration_p9999y_loops_indefinitely_up_to_the_horizon():
    e = event(duration="P9999Y", intervalPeriod={"start": "2025-01-01T00:00:00Z", "duration": "PT1H"},
              intervals=[{"id": i, "payloads": [{"type": "PRICE", "values": [i]}]} for i in range(24)])
    timeline = event_timeline(e, received=RECEIVED, until=t("2025-01-31T00:00:00Z"))
    assert len(timeline.slots) == 30 * 24
    assert [s.interval_id for s in timeline.active(t("2025-01-30T23:59:00Z"))] == [23]


# --- §7.1 priority ------------------------------------------------------------------------------------------
def _simple(event_id: str, priority: int | None, start: str, value: int, modified: str | None = None) -> Timeline:
    fields = {"id": event_id, "intervalPeriod": {"start": start, "duration": "PT2H"},
              "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [value]}]}]}
    if priority is not None:
        fields["priority"] = priority
    if modified:
        fields["modificationDateTime"] = modified
    return event_timeline(event(**fields), received=RECEIVED)


def _winner(*timelines: Timeline, at: str = "2025-03-14T18:30:00Z") -> str:
    moment = t(at)
    pair = winning_slot([(tl, s) for tl in timelines for s in tl.active(moment)])
    return pair[0].event_id


def test_lower_priority_number_wins_and_zero_is_highest():
    assert _winner(_simple("a", 5, "2025-03-14T18:00:00Z", 1), _simple("b", 0, "2025-03-14T17:00:00Z", 3)) == "b"
    assert _winner(_simple("a", 1, "2025-03-14T18:00:00Z", 1), _simple("b", 2, "2025-03-14T18:00:00Z", 3)) == "a"


def test_a_missing_priority_is_the_lowest():
    assert _winner(_simple("a", None, "2025-03-14T18:00:00Z", 1), _simple("b", 99, "2025-03-14T17:00:00Z", 3)) == "b"


def test_ties_go_to_the_later_start_then_the_later_modification_then_the_greater_id():
    assert _winner(_simple("a", 1, "2025-03-14T18:00:00Z", 1), _simple("b", 1, "2025-03-14T17:00:00Z", 3)) == "a"
    assert _winner(_simple("a", 1, "2025-03-14T18:00:00Z", 1, "2025-03-10T00:00:00Z"),
                   _simple("b", 1, "2025-03-14T18:00:00Z", 3, "2025-03-11T00:00:00Z")) == "b"
    tied = [_simple("a", None, "2025-03-14T18:00:00Z", 1), _simple("b", None, "2025-03-14T18:00:00Z", 3)]
    assert _winner(*tied) == "b" and _winner(*reversed(tied)) == "b"  # never the order events were read in


def test_no_active_slot_has_no_winner():
    assert winning_slot([]) is None


def test_slot_of_an_open_ended_interval_is_active_forever_after_its_start():
    slot = Slot(0, "SIMPLE", (1,), RECEIVED, None)
    assert slot.active_at(RECEIVED) and slot.active_at(RECEIVED + timedelta(days=10**5))
    assert not slot.active_at(RECEIVED - timedelta(seconds=1))


def test_event_duration_cuts_a_split_interval_after_splitting_it():
    e = event(duration="PT2H", intervals=[{"id": 0, "intervalPeriod": {"start": "2025-06-25T00:00:00Z",
                                                                       "duration": "PT3H"},
                                           "payloads": [{"type": "PRICE", "values": [0.17, 0.03, 0.11]}]}])
    assert [(s.value, s.start.hour, s.end.hour) for s in event_timeline(e, received=RECEIVED).slots] == [
        (0.17, 0, 1), (0.03, 1, 2)]


def test_interval_spans_include_report_only_intervals_with_empty_payloads():
    from venclient.engine.timeline import interval_spans

    e = event(intervalPeriod={"start": "2025-06-25T00:00:00Z", "duration": "PT1H"},
              intervals=[{"id": 7, "payloads": []}, {"id": 9, "payloads": []}])
    spans, cancelled = interval_spans(e, received=RECEIVED)
    assert not cancelled and event_timeline(e, received=RECEIVED).slots == ()
    assert [(s.interval_id, s.index, s.start.hour, s.end.hour) for s in spans] == [(7, 0, 0, 1), (9, 1, 1, 2)]
