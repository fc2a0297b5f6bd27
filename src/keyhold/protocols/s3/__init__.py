"""The S3 REST-XML protocol: request bodies, response bodies, errors, chunked uploads and checksums."""
