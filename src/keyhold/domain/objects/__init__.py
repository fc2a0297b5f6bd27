"""The object store: buckets, objects, multipart uploads and their server-side encryption."""
