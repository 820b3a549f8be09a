"""The tests talk to a real `berth server` (scripts/test starts one on the Docker engine and
sets BERTH_URL, BERTH_TOKEN and BERTH_TEST_IMAGE)."""
import os

import pytest

from berth_client import AsyncClient, Client


@pytest.fixture
def image():
    return os.environ.get("BERTH_TEST_IMAGE", "berth-test/busybox:latest")


@pytest.fixture
def berth():
    url = os.environ.get("BERTH_URL")
    if not url:
        pytest.fail("BERTH_URL is not set: run the tests through scripts/test (or scripts/test-python-client)")
    with Client(url, os.environ.get("BERTH_TOKEN"), timeout=30) as c:
        yield c


@pytest.fixture
async def aberth():
    async with AsyncClient(os.environ["BERTH_URL"], os.environ.get("BERTH_TOKEN"), timeout=30) as c:
        yield c
