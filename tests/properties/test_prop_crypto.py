"""Envelope encryption, for any content: it opens with the right key and context, and with nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.crypto.envelope import (
    DEK_BYTES,
    associated_data,
    open_sealed,
    seal,
    unwrap_data_key,
    wrap_data_key,
)
from app.crypto.errors import DecryptionFailed

keys = st.binary(min_size=DEK_BYTES, max_size=DEK_BYTES)
refs = st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=6, max_size=6)
fields = st.sampled_from(["text", "contact", "assessment"]) | st.builds(
    lambda kind, n: f"{kind}:{n}", st.sampled_from(["message", "note", "attachment"]), st.integers(1, 10**9))
content = st.binary(max_size=2048)
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(key=keys, ref=refs, field=fields, plaintext=content)
def test_sealed_content_round_trips_and_hides_the_plaintext(key, ref, field, plaintext):
    blob = seal(key, associated_data(ref, field), plaintext)
    assert open_sealed(key, associated_data(ref, field), blob) == plaintext
    if len(plaintext) >= 8:
        assert plaintext not in blob


@FAST
@given(key=keys, ref=refs, field=fields, plaintext=content, data=st.data())
def test_every_tampered_byte_is_refused(key, ref, field, plaintext, data):
    ad = associated_data(ref, field)
    blob = seal(key, ad, plaintext)
    position = data.draw(st.integers(0, len(blob) - 1), label="position")
    flip = data.draw(st.integers(1, 255), label="xor")
    tampered = blob[:position] + bytes([blob[position] ^ flip]) + blob[position + 1:]
    with pytest.raises(DecryptionFailed):
        open_sealed(key, ad, tampered)


@FAST
@given(key=keys, ref=refs, field=fields, plaintext=content, cut=st.integers(1, 40))
def test_truncated_or_extended_blobs_are_refused(key, ref, field, plaintext, cut):
    ad = associated_data(ref, field)
    blob = seal(key, ad, plaintext)
    with pytest.raises(DecryptionFailed):
        open_sealed(key, ad, blob[:-cut])
    with pytest.raises(DecryptionFailed):
        open_sealed(key, ad, blob + b"\x00" * cut)


@FAST
@given(key=keys, other=keys, ref=refs, field=fields, plaintext=content)
def test_a_wrong_key_never_opens(key, other, ref, field, plaintext):
    if key == other:
        return
    ad = associated_data(ref, field)
    with pytest.raises(DecryptionFailed):
        open_sealed(other, ad, seal(key, ad, plaintext))


@FAST
@given(key=keys, ref=refs, other_ref=refs, field=fields, other_field=fields, plaintext=content)
def test_a_ciphertext_moved_to_another_tip_or_field_never_opens(key, ref, other_ref, field, other_field, plaintext):
    if (ref, field) == (other_ref, other_field):
        return
    blob = seal(key, associated_data(ref, field), plaintext)
    with pytest.raises(DecryptionFailed):
        open_sealed(key, associated_data(other_ref, other_field), blob)


@FAST
@given(kek=keys, other_kek=keys, dek=keys, ref=refs, other_ref=refs)
def test_a_wrapped_data_key_opens_only_with_its_kek_for_its_tip(kek, other_kek, dek, ref, other_ref):
    wrapped = wrap_data_key(kek, ref, dek)
    assert unwrap_data_key(kek, ref, wrapped) == dek
    if other_kek != kek:
        with pytest.raises(DecryptionFailed):
            unwrap_data_key(other_kek, ref, wrapped)
    if other_ref != ref:
        with pytest.raises(DecryptionFailed):
            unwrap_data_key(kek, other_ref, wrapped)
