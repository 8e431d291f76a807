"""The default plugins' store, transport and sources satisfy the protocols core checks them against."""

from __future__ import annotations

from venclient import protocols
from venclient.plugins.openadr_http.config import VtnConfig
from venclient.plugins.openadr_http.transport import HttpVtnTransport
from venclient.plugins.sqlite_store.store import SqlResourceStore


def test_the_sqlite_store_is_a_resource_store_with_every_optional_capability(tmp_path):
    store = SqlResourceStore(f"sqlite:///{tmp_path / 'resources.db'}")
    try:
        for capability in (protocols.ResourceStore, protocols.BacklogRecords, protocols.LeaseRecords,
                           protocols.CountsLoads, protocols.ListsConnections, protocols.EventStateRecords,
                           protocols.ResourceGroups, protocols.AccumulatorRecords):
            assert isinstance(store, capability), capability.__name__
    finally:
        store.close()


def test_the_http_transport_is_a_vtn_transport_with_every_optional_capability():
    transport = HttpVtnTransport(VtnConfig(url="http://127.0.0.1:9/openadr3/3.0.1"))
    for capability in (protocols.VtnTransport, protocols.PostsReportText, protocols.FindsReports,
                       protocols.ListsReports, protocols.SettlesUnknownOutcomes, protocols.CreatesResourceIds,
                       protocols.RawRequests, protocols.ListsSubscriptions):
        assert isinstance(transport, capability), capability.__name__


def test_a_store_missing_one_method_is_not_a_resource_store():
    class AlmostStore:
        url = "memory:"

    for name in dir(protocols.ResourceStore):
        if not name.startswith("_"):
            setattr(AlmostStore, name, lambda self, *args, **kwargs: None)
    assert isinstance(AlmostStore(), protocols.ResourceStore)
    del AlmostStore.registration_rows
    assert not isinstance(AlmostStore(), protocols.ResourceStore)


def test_the_default_sources_declare_their_optional_capabilities():
    from venclient.plugins.file_reader.source import FileReaderSource
    from venclient.plugins.h5_simulator.source import H5MeterSource
    from venclient.plugins.modbus_meter.source import ModbusMeterSource
    from venclient.plugins.mqtt_meter.source import MqttMeterSource

    assert issubclass(H5MeterSource, protocols.HasTimeline)  # the replay clock follows its recorded rows
    assert issubclass(MqttMeterSource, protocols.WaitsReady)  # retained values arrive after open
    for source in (FileReaderSource, ModbusMeterSource):
        assert not issubclass(source, protocols.HasTimeline) and not issubclass(source, protocols.WaitsReady)
