"""The one capped read of an HTTP body (console.http_body), shared by the probes and
the sources: no sockets, chunks from a generator."""
import pytest

from console.http_body import BodyTooLarge, declared_length, read_capped


async def chunks(*parts: bytes, taken: list | None = None):
    for part in parts:
        if taken is not None:
            taken.append(part)
        yield part


async def test_a_body_within_the_cap_is_read_whole():
    assert await read_capped(chunks(b"ab", b"", b"cd"), 4) == b"abcd"  # exactly the cap is fine
    assert await read_capped(chunks(), 0) == b""
    assert await read_capped(chunks(b"abcd"), 10, "4") == b"abcd"


async def test_the_bytes_that_pass_the_cap_stop_the_read_there():
    taken: list = []
    with pytest.raises(BodyTooLarge) as e:
        await read_capped(chunks(b"abc", b"de", b"never", taken=taken), 4)
    assert (e.value.cap, e.value.declared) == (4, None)
    assert taken == [b"abc", b"de"]  # no chunk is taken after the one that passed the cap


async def test_a_declared_length_over_the_cap_is_refused_before_a_byte_is_taken():
    taken: list = []
    with pytest.raises(BodyTooLarge) as e:
        await read_capped(chunks(b"a", taken=taken), 4, " 5 ")
    assert (e.value.cap, e.value.declared) == (4, 5)
    assert taken == []


async def test_a_declared_length_that_lies_low_does_not_lift_the_cap():
    with pytest.raises(BodyTooLarge) as e:
        await read_capped(chunks(b"abc", b"de"), 4, "1")
    assert e.value.declared is None


@pytest.mark.parametrize("value, n", [(None, None), ("", None), ("12", 12), (" 12 ", 12), ("-3", None),
                                      ("+3", None), ("1e3", None), ("١٢", None), ("0", 0)])
def test_only_a_plain_number_is_a_declared_length(value, n):
    assert declared_length(value) == n
