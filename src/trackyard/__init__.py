"""trackyard: a self-hosted server that speaks Mixpanel's ingestion protocol."""

__version__ = "0.1.0"
