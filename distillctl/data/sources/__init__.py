"""The data sources: one module each, registering itself in distillctl.data.SOURCES."""
