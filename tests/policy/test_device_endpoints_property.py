"""Property-based: whatever a client sends to the three device endpoints, the answer is never a 500, every
error is JSON {"code", "detail", "fields"}, and in a batch the good report beside hostile ones is stored.

Hostile values: text with NUL, other control characters and lone surrogates, integers past 64 bits,
floats, nesting past the limit, times at the ends of the calendar, near-miss identifiers; put anywhere
in an otherwise valid (and, where it matters, validly signed) registration, report, batch or notice.
"""

import contextlib
import itertools
import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensing.limits import MAX_INSTANCE_USAGE
from policy.formats import iso, sign_with_trust_code
from policy.models import UsageReport
from tests.factories import default_va
from tests.licensing.helpers import token_for

from .helpers import TRUST, make_instance, make_license, notice, report, upgrade

pytestmark = pytest.mark.django_db
REGISTER, REPORTS, NOTICES = "/api/v1/devices/register/", "/api/v1/usage/reports/", "/api/v1/usage/change-notices/"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

odd_characters = st.characters(codec=None, categories=["Cc", "Cs", "Zl", "Zp", "Mn", "No"])
texts = st.text(st.one_of(st.characters(), odd_characters), max_size=12)
identifiers = st.sampled_from(
    ["FOC24100001\n", "foc24100001", " FOC1", "FOC1 ", "", "ıOS1", "ﬁ1", "FOC\x001", "-1", "A" * 65, "C9300-48P"]
)
times = st.sampled_from(
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z", "2026-02-30T00:00:00Z",
     "2026-01-01T24:00:00Z", "2026-01-01T00:00:60Z", "2026-01-01T00:00:00+99:99", "2026-01-01T00:00:00"]
)  # fmt: skip
numbers = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**31, 2**31 - 1, 2**63, 2**64, 2_147_483_572, MAX_INSTANCE_USAGE, MAX_INSTANCE_USAGE + 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)


def nested(depth: int):
    value = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


hostile = st.one_of(
    texts, identifiers, times, numbers, st.none(), st.just([]), st.just({}),
    st.integers(min_value=10, max_value=60).map(nested),
)  # fmt: skip


def paths(document, prefix=()):
    """Every place in a document a value can be put: each key and list item, and a new key per object."""
    if isinstance(document, dict):
        yield (*prefix, "unexpected\x00")
        for key, value in document.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            yield (*prefix, i)
            yield from paths(value, (*prefix, i))


def put(document, path, value):
    document = json.loads(json.dumps(document))
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return document


@st.composite
def mutated(draw, document: dict, *, sign: bool = True):
    """`document` with one to three places given hostile values, signed again (when it can be) so that what
    passes the schema reaches the rules behind the signature."""
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        document = put(document, draw(st.sampled_from(list(paths(document)))), draw(hostile))
    if sign and draw(st.booleans()):
        with contextlib.suppress(UnicodeEncodeError):  # no device can sign a lone surrogate
            document = sign_with_trust_code(document, TRUST)
    return document


_addresses = itertools.count(1)


def send(client, url, body):
    text = json.dumps(body, ensure_ascii=True)
    # Each request from its own address: the device throttle counts per client, and this is not about it.
    n = next(_addresses)
    address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    response = client.post(url, text, content_type="application/json", REMOTE_ADDR=address)
    assert response.status_code < 500, (url, body, response.content[:300])
    if response.status_code >= 400:
        answer = response.json()
        assert set(answer) == {"code", "detail", "fields"} and answer["code"], answer
    return response


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)  # an exception escaping a view would be raised here


@pytest.fixture
def lic(db):
    return make_license()


@pytest.fixture
def devices(account, lic):
    va = default_va(account)
    return (
        make_instance(va, usage={lic: 1}, trust_code=TRUST, serial_number="FOC24100001"),
        make_instance(va, usage={lic: 1}, trust_code="b" * 64, serial_number="FOC24100002"),
    )


def test_registration_never_answers_a_500(client, account, lic):
    token = token_for(default_va(account), max_uses=None)
    base = {"token": token.token, "pid": "C9300-48P", "serial_number": "FOC24100001", "hostname": "sw-1",
            "product_family": "Catalyst 9300", "software_version": "17.9.4", "usage": {lic.tag: 1}}  # fmt: skip

    @FUZZ
    @given(body=mutated(base, sign=False))
    def check(body):
        send(client, REGISTER, body)

    check()


def test_a_report_never_answers_a_500(client, devices, lic):
    device, _ = devices
    base = report(device, generated_at=timezone.now() - timedelta(days=1), usage={lic: 2}, hostname="sw-1",
                  software_version="17.9.4", events=[upgrade(timezone.now() - timedelta(days=2))])  # fmt: skip

    @FUZZ
    @given(body=mutated(base))
    def check(body):
        send(client, REPORTS, body)

    check()


def test_a_batch_stores_its_good_report_whatever_stands_beside_it(client, devices, lic):
    device, other = devices
    base = report(device, generated_at=timezone.now() - timedelta(days=1), usage={lic: 2}, hostname="sw-1",
                  events=[upgrade(timezone.now() - timedelta(days=2))])  # fmt: skip

    @FUZZ
    @given(bad=st.lists(mutated(base), min_size=1, max_size=3), position=st.integers(min_value=0, max_value=3))
    def check(bad, position):
        good = report(other, generated_at=timezone.now(), usage={lic: 3}, report_id=str(uuid.uuid4()))
        batch = [*bad]
        batch.insert(min(position, len(batch)), good)
        response = send(client, REPORTS, {"reports": batch})
        assert response.status_code == 200, response.content[:300]
        results = response.json()["results"]
        assert len(results) == len(batch)
        mine = results[batch.index(good)]
        assert mine["status"] == "accepted" and mine["report_id"] == good["report_id"], mine
        assert UsageReport.objects.filter(report_id=good["report_id"]).exists()
        assert all(r["status"] != "refused" or (r["code"] and r["detail"]) for r in results)

    check()


def test_a_change_notice_never_answers_a_500(client, devices, lic):
    device, _ = devices
    base = notice(device, changes=[upgrade(timezone.now() - timedelta(hours=1))], generated_at=timezone.now())
    base["changes"].append(
        {"type": "feature_change", "at": iso(timezone.now() - timedelta(hours=2)), "entitlement_tag": lic.tag,
         "from_count": 1, "to_count": 2}
    )  # fmt: skip

    @FUZZ
    @given(body=mutated(base))
    def check(body):
        send(client, NOTICES, body)

    check()
