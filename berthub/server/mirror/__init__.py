"""`berthub serve --mirror-of URL`: a pull-once mirror of another hub (mirror), and its client (upstream)."""
