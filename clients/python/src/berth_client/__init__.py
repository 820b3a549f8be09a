"""berth's Python client: submit container jobs to a `berth server`, watch them, follow their
output and events live (resuming after a dropped connection without losing or repeating a
line), and read their results and artifacts.

    from berth_client import Client
    with Client("http://127.0.0.1:8420", token="...") as berth:
        job = berth.submit("python:3.12", ["python", "-c", "print('hi')"])
        for item in berth.follow(job.id):
            print(item)
        print(berth.wait(job.id).status)

`AsyncClient` has the same verbs for asyncio.
"""
from ._async import AsyncClient
from ._errors import BerthError, Conflict, InvalidSpec, NotFound, Unauthorized
from ._models import Artifact, End, Event, ExecResult, Job, LogLine, Schedule
from ._sync import Client

__all__ = [
    "Client", "AsyncClient", "BerthError", "Conflict", "InvalidSpec", "NotFound", "Unauthorized",
    "Artifact", "End", "Event", "ExecResult", "Job", "LogLine", "Schedule",
]
__version__ = "0.1.0"
