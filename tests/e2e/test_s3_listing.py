"""ListObjects and ListObjectsV2 through a real `keyhold serve`: prefix, delimiter, pagination (continuation tokens,
start-after, markers), encoding-type=url, key order, and the refusals."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest
from defusedxml import ElementTree

from support.s3 import closing, fails_with, md5_hex, new_bucket, signed_send
from support.server import KeyholdServer

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

TREE = [
    "a.txt",
    "photos/2024/feb.jpg",
    "photos/2024/jan.jpg",
    "photos/2025/mar.jpg",
    "photos/readme",
    "photos/zz",
    "videos/x.mp4",
    "z",
]


@pytest.fixture
def s3(server: KeyholdServer) -> Iterator[Any]:
    with closing(server.s3()) as client:
        yield client


@pytest.fixture
def tree(s3: Any) -> str:
    """A bucket holding TREE (each object's body is its key)."""
    bucket = new_bucket(s3, "tree")
    for key in TREE:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def keys(page: dict[str, Any]) -> list[str]:
    return [entry["Key"] for entry in page.get("Contents", [])]


def prefixes(page: dict[str, Any]) -> list[str]:
    return [entry["Prefix"] for entry in page.get("CommonPrefixes", [])]


def walk_v2(s3: Any, bucket: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every page of a ListObjectsV2, following the continuation tokens by hand."""
    pages = [s3.list_objects_v2(Bucket=bucket, **kwargs)]
    while pages[-1]["IsTruncated"]:
        token = pages[-1]["NextContinuationToken"]
        pages.append(s3.list_objects_v2(Bucket=bucket, ContinuationToken=token, **kwargs))
        assert pages[-1]["ContinuationToken"] == token
        assert len(pages) < 100
    assert "NextContinuationToken" not in pages[-1]
    return pages


# -- prefix and delimiter --------------------------------------------------------------------------------------


def test_v2_everything(s3: Any, tree: str) -> None:
    page = s3.list_objects_v2(Bucket=tree)
    assert keys(page) == TREE
    assert page["KeyCount"] == len(TREE)
    assert page["IsTruncated"] is False
    assert page["MaxKeys"] == 1000
    assert page["Name"] == tree
    assert page["Prefix"] == ""
    assert "CommonPrefixes" not in page
    first = page["Contents"][0]
    assert first["Size"] == len(b"a.txt")
    assert first["ETag"] == f'"{md5_hex(b"a.txt")}"'
    assert first["StorageClass"] == "STANDARD"
    assert "Owner" not in first  # only with FetchOwner
    assert first["LastModified"] == s3.head_object(Bucket=tree, Key="a.txt")["LastModified"]
    owned = s3.list_objects_v2(Bucket=tree, FetchOwner=True)["Contents"][0]
    assert owned["Owner"]["ID"] == s3.list_buckets()["Owner"]["ID"]


def test_v2_delimiter(s3: Any, tree: str) -> None:
    top = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert keys(top) == ["a.txt", "z"]
    assert prefixes(top) == ["photos/", "videos/"]
    assert top["KeyCount"] == 4
    assert top["Delimiter"] == "/"

    photos = s3.list_objects_v2(Bucket=tree, Prefix="photos/", Delimiter="/")
    assert keys(photos) == ["photos/readme", "photos/zz"]
    assert prefixes(photos) == ["photos/2024/", "photos/2025/"]
    assert photos["Prefix"] == "photos/"

    year = s3.list_objects_v2(Bucket=tree, Prefix="photos/2024/", Delimiter="/")
    assert keys(year) == ["photos/2024/feb.jpg", "photos/2024/jan.jpg"]
    assert "CommonPrefixes" not in year

    # a delimiter other than "/", and a prefix that is not a "directory"
    dotted = s3.list_objects_v2(Bucket=tree, Delimiter=".")
    assert keys(dotted) == ["photos/readme", "photos/zz", "z"]
    assert prefixes(dotted) == ["a.", "photos/2024/feb.", "photos/2024/jan.", "photos/2025/mar.", "videos/x."]
    partial = s3.list_objects_v2(Bucket=tree, Prefix="photos/2", Delimiter="/")
    assert keys(partial) == []
    assert prefixes(partial) == ["photos/2024/", "photos/2025/"]


def test_v2_prefix_without_matches(s3: Any, tree: str) -> None:
    page = s3.list_objects_v2(Bucket=tree, Prefix="nothing/")
    assert page["KeyCount"] == 0
    assert "Contents" not in page
    assert page["IsTruncated"] is False


def test_empty_bucket(s3: Any) -> None:
    bucket = new_bucket(s3, "empty")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    v1 = s3.list_objects(Bucket=bucket)
    assert "Contents" not in v1
    assert v1["IsTruncated"] is False


# -- pagination ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 8])
def test_v2_pagination(s3: Any, tree: str, page_size: int) -> None:
    pages = walk_v2(s3, tree, MaxKeys=page_size)
    assert [key for page in pages for key in keys(page)] == TREE
    assert len(pages) == -(-len(TREE) // page_size)
    for page in pages:
        assert page["MaxKeys"] == page_size
        assert page["KeyCount"] == len(keys(page))
        assert page["KeyCount"] <= page_size


@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_v2_pagination_with_delimiter(s3: Any, tree: str, page_size: int) -> None:
    """A common prefix counts as one entry, comes once, and a page may end with one."""
    pages = walk_v2(s3, tree, MaxKeys=page_size, Delimiter="/")
    assert [key for page in pages for key in keys(page)] == ["a.txt", "z"]
    assert [prefix for page in pages for prefix in prefixes(page)] == ["photos/", "videos/"]
    assert all(page["KeyCount"] == len(keys(page)) + len(prefixes(page)) <= page_size for page in pages)

    inner = walk_v2(s3, tree, MaxKeys=page_size, Delimiter="/", Prefix="photos/")
    assert [key for page in inner for key in keys(page)] == ["photos/readme", "photos/zz"]
    assert [prefix for page in inner for prefix in prefixes(page)] == ["photos/2024/", "photos/2025/"]


def test_v2_start_after(s3: Any, tree: str) -> None:
    assert keys(s3.list_objects_v2(Bucket=tree, StartAfter="photos/readme")) == ["photos/zz", "videos/x.mp4", "z"]
    assert keys(s3.list_objects_v2(Bucket=tree, StartAfter="photos/")) == TREE[1:]
    assert keys(s3.list_objects_v2(Bucket=tree, StartAfter="zzz")) == []
    page = s3.list_objects_v2(Bucket=tree, StartAfter="b", MaxKeys=2)
    assert page["StartAfter"] == "b"
    assert keys(page) == ["photos/2024/feb.jpg", "photos/2024/jan.jpg"]
    # StartAfter stays in every later page's answer; the token says where to go on
    rest = s3.list_objects_v2(Bucket=tree, StartAfter="b", ContinuationToken=page["NextContinuationToken"])
    assert keys(rest) == TREE[3:]
    assert rest["StartAfter"] == "b"
    # a delimiter: starting after a common prefix's keys skips the prefix
    skipped = s3.list_objects_v2(Bucket=tree, StartAfter="photos/zz", Delimiter="/")
    assert keys(skipped) == ["z"]
    assert prefixes(skipped) == ["videos/"]


def test_v2_paginator(s3: Any, tree: str) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket=tree, PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3
    assert [key for page in pages for key in keys(page)] == TREE


def test_v1_markers(s3: Any, tree: str) -> None:
    first = s3.list_objects(Bucket=tree, MaxKeys=3)
    assert keys(first) == TREE[:3]
    assert first["IsTruncated"] is True
    assert first["Marker"] == ""
    assert "NextMarker" not in first  # only with a delimiter: without one the client goes on from the last key
    assert first["Contents"][0]["Owner"]["ID"]  # V1 always names the owner

    second = s3.list_objects(Bucket=tree, MaxKeys=3, Marker=TREE[2])
    assert keys(second) == TREE[3:6]
    assert second["Marker"] == TREE[2]
    last = s3.list_objects(Bucket=tree, MaxKeys=3, Marker=TREE[5])
    assert keys(last) == TREE[6:]
    assert last["IsTruncated"] is False

    with_delimiter = s3.list_objects(Bucket=tree, MaxKeys=2, Delimiter="/")
    assert keys(with_delimiter) == ["a.txt"]
    assert prefixes(with_delimiter) == ["photos/"]
    assert with_delimiter["IsTruncated"] is True
    assert with_delimiter["NextMarker"] == "photos/"
    following = s3.list_objects(Bucket=tree, MaxKeys=2, Delimiter="/", Marker=with_delimiter["NextMarker"])
    assert prefixes(following) == ["videos/"]
    assert keys(following) == ["z"]
    assert following["IsTruncated"] is False


def test_v1_paginator_with_delimiter(s3: Any, tree: str) -> None:
    paginator = s3.get_paginator("list_objects")
    pages = list(paginator.paginate(Bucket=tree, Delimiter="/", Prefix="photos/", PaginationConfig={"PageSize": 1}))
    assert [key for page in pages for key in keys(page)] == ["photos/readme", "photos/zz"]
    assert [prefix for page in pages for prefix in prefixes(page)] == ["photos/2024/", "photos/2025/"]


def test_many_keys_over_1000(s3: Any) -> None:
    """More keys than one page can hold: 1000 per page at most, whatever max-keys asks."""
    bucket = new_bucket(s3, "many")
    names = [f"k/{index:05d}" for index in range(1003)]
    for offset in range(0, len(names), 250):
        for name in names[offset : offset + 250]:
            s3.put_object(Bucket=bucket, Key=name, Body=b"")
    first = s3.list_objects_v2(Bucket=bucket, MaxKeys=5000)
    assert first["KeyCount"] == 1000
    assert first["MaxKeys"] == 1000
    assert first["IsTruncated"] is True
    rest = s3.list_objects_v2(Bucket=bucket, ContinuationToken=first["NextContinuationToken"])
    assert keys(first) + keys(rest) == names


# -- key order and encoding-type -------------------------------------------------------------------------------

ODD_KEYS = [
    "B upper",
    "a lower",
    "plus+sign",
    "percent%41",
    "amp&lt;",
    "tab\there",
    "ctrl\x01char",
    "é accent",
    "Ω omega",
    "日本語/ファイル",
    "😀 emoji",
    "\ufffd replacement",
]


@pytest.fixture
def odd(s3: Any) -> str:
    bucket = new_bucket(s3, "odd")
    for key in ODD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    return bucket


def test_keys_sort_by_utf8_bytes(s3: Any, odd: str) -> None:
    """boto3 asks for encoding-type=url and decodes the keys itself."""
    expected = sorted(ODD_KEYS, key=lambda key: key.encode())
    assert keys(s3.list_objects_v2(Bucket=odd)) == expected
    assert keys(s3.list_objects(Bucket=odd)) == expected
    assert [key for page in walk_v2(s3, odd, MaxKeys=5) for key in keys(page)] == expected


def test_encoding_type_url_on_the_wire(server: KeyholdServer, odd: str) -> None:
    response = signed_send(server, "GET", f"/{odd}", query="delimiter=%2F&encoding-type=url&list-type=2&prefix=")
    assert response.status == 200
    root = ElementTree.fromstring(response.body)
    assert root.findtext(f"{NS}EncodingType") == "url"
    listed = [element.text or "" for element in root.iter(f"{NS}Key")]
    listed_prefixes = [element.text or "" for element in root.iter(f"{NS}Prefix")]
    assert "ctrl%01char" in listed
    assert "plus%2Bsign" in listed
    assert "percent%2541" in listed
    assert all(" " not in key and "\x01" not in key for key in listed)
    assert sorted(unquote(key) for key in listed) == sorted(key for key in ODD_KEYS if "/" not in key)
    assert [unquote(prefix) for prefix in listed_prefixes if prefix] == ["日本語/"]
    assert quote("日本語/") in listed_prefixes

    # without encoding-type the keys come as they are (as XML text)
    plain = signed_send(server, "GET", f"/{odd}", query="list-type=2&prefix=plus")
    assert ElementTree.fromstring(plain.body).findtext(f"{NS}Contents/{NS}Key") == "plus+sign"


def test_invalid_listing_parameters(server: KeyholdServer, s3: Any, tree: str) -> None:
    status, code, _ = fails_with(s3.list_objects_v2, Bucket=tree, EncodingType="base64")
    assert (status, code) == (400, "InvalidArgument")
    status, code, _ = fails_with(s3.list_objects_v2, Bucket=tree, ContinuationToken="%%% not a token %%%")
    assert (status, code) == (400, "InvalidArgument")
    for query in ("list-type=2&max-keys=-1", "list-type=2&max-keys=ten", "max-keys=abc"):
        response = signed_send(server, "GET", f"/{tree}", query=query)
        assert response.status == 400, query
        assert response.error()["Code"] == "InvalidArgument"
