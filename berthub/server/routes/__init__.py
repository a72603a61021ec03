"""HTTP routes of the hub server, one module per concern: api, commits, files, web."""
