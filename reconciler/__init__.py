"""camup-sync: copy finished camera recordings to an S3 bucket."""

__version__ = "0.1.0"
