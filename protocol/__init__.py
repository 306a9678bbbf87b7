"""The wire contract shared by the hub and the edge agent: error codes, messages, codecs."""
