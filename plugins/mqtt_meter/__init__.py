"""MQTT meters (kind ``mqtt``): Tasmota, Shelly Gen1/Gen2, Zigbee2MQTT, dsmr-reader and any JSON payload.

Readers keep the latest value per topic; writers publish a command.  The connection ``params`` schema
is documented in README.md beside this file.
"""
