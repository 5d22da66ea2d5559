"""The command line: `ide`, one module per command group over the API."""
