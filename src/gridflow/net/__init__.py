"""The one way gridflow asks a server: the transport (S3, file, HTTP), back-off, pacing and each
host's health, shared by every fetch, listing and job service."""
