"""Where the hub keeps bytes: the ObjectStore interface (base), local disk (local), S3 (s3), reading (reading)."""
