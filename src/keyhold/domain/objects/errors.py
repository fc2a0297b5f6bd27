"""The object store's errors, one class per condition a client can tell apart (protocols/s3/errors.py maps each
to S3's code and status). Messages are AWS's wording and safe to send back."""

from keyhold.errors import AccessDenied, AlreadyExists, Conflict, InvalidInput, InvalidState, NotFound, ServiceError


class NoSuchBucket(NotFound):
    def __init__(self, bucket: str) -> None:
        super().__init__("The specified bucket does not exist")
        self.bucket = bucket


class NoSuchKey(NotFound):
    def __init__(self, key: str) -> None:
        super().__init__("The specified key does not exist.")
        self.key = key


class NoSuchUpload(NotFound):
    def __init__(self, upload_id: str) -> None:
        super().__init__(
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
            "aborted or completed."
        )
        self.upload_id = upload_id


class NoSuchBucketPolicy(NotFound):
    def __init__(self, bucket: str) -> None:
        super().__init__("The bucket policy does not exist")
        self.bucket = bucket


class BucketAlreadyExists(AlreadyExists):
    def __init__(self, bucket: str) -> None:
        super().__init__(
            "The requested bucket name is not available. The bucket namespace is shared by all users of the "
            "system. Please select a different name and try again."
        )
        self.bucket = bucket


class BucketAlreadyOwnedByYou(AlreadyExists):
    def __init__(self, bucket: str) -> None:
        super().__init__("Your previous request to create the named bucket succeeded and you already own it.")
        self.bucket = bucket


class BucketNotEmpty(Conflict):
    def __init__(self, bucket: str) -> None:
        super().__init__("The bucket you tried to delete is not empty")
        self.bucket = bucket


class InvalidBucketName(InvalidInput):
    def __init__(self, bucket: str) -> None:
        super().__init__("The specified bucket is not valid.")
        self.bucket = bucket


class IllegalLocationConstraint(InvalidInput):
    def __init__(self, location: str) -> None:
        super().__init__(
            f"The {location} location constraint is incompatible for the region specific endpoint this request "
            "was sent to."
        )
        self.location = location


class InvalidLocationConstraint(InvalidInput):
    """us-east-1 named explicitly: S3 wants no LocationConstraint there."""

    def __init__(self) -> None:
        super().__init__("The specified location-constraint is not valid")


class InvalidArgument(InvalidInput):
    """S3's InvalidArgument; ``name``/``value`` become ArgumentName/ArgumentValue in the error."""

    def __init__(self, message: str, name: str | None = None, value: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.value = value


class InvalidRequest(InvalidInput):
    pass


class InvalidEncryptionAlgorithm(InvalidInput):
    def __init__(
        self, message: str = "The encryption request you specified is not valid. Supported value: AES256."
    ) -> None:
        super().__init__(message)


class KeyTooLong(InvalidInput):
    def __init__(self) -> None:
        super().__init__("Your key is too long")


class MetadataTooLarge(InvalidInput):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__("Your metadata headers exceed the maximum allowed metadata size.")
        self.size = size
        self.limit = limit


class EntityTooSmall(InvalidInput):
    def __init__(self) -> None:
        super().__init__("Your proposed upload is smaller than the minimum allowed object size.")


class EntityTooLarge(InvalidInput):
    def __init__(self) -> None:
        super().__init__("Your proposed upload exceeds the maximum allowed size")


class InvalidPart(InvalidInput):
    def __init__(self) -> None:
        super().__init__(
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the "
            "specified entity tag may not match the part's entity tag."
        )


class InvalidPartOrder(InvalidInput):
    def __init__(self) -> None:
        super().__init__("The list of parts was not in ascending order. Parts must be ordered by part number.")


class MalformedXML(InvalidInput):
    def __init__(self) -> None:
        super().__init__("The XML you provided was not well-formed or did not validate against our published schema")


class MalformedPolicy(InvalidInput):
    pass


class InvalidRange(InvalidInput):
    def __init__(self, size: int, requested: str) -> None:
        super().__init__("The requested range is not satisfiable")
        self.size = size
        self.requested = requested


class PreconditionFailed(InvalidState):
    def __init__(self, condition: str) -> None:
        super().__init__("At least one of the pre-conditions you specified did not hold")
        self.condition = condition


class NotModified(InvalidState):
    """Not an error to the client: 304 Not Modified, no body."""

    def __init__(self, etag: str, last_modified: float) -> None:
        super().__init__("Not Modified")
        self.etag = etag
        self.last_modified = last_modified


class ServerSideEncryptionConfigurationNotFound(NotFound):
    def __init__(self, bucket: str) -> None:
        super().__init__("The server side encryption configuration was not found")
        self.bucket = bucket


class ObjectAccessDenied(AccessDenied):
    pass


class KmsFailure(ServiceError):
    """A KMS error met while encrypting or decrypting an object (S3 returns most of them as KMS.<code>)."""

    def __init__(self, cause: ServiceError) -> None:
        super().__init__(cause.message)
        self.cause = cause
