"""zerodown: ship a new version of a web service without dropping a request."""

__version__ = "0.1.0"
