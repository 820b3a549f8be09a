"""A "Run Script" button (seed 003): a Flask app that runs a script as a berth job, shows its
status and output, and stops it. berth does the durable part (the job survives this app's
restarts, is capped, cleaned up and listed), so the app stays this small.

    pip install flask ./clients/python
    BERTH_URL=http://127.0.0.1:8420 BERTH_TOKEN=... flask --app flask_run_script run
"""
from __future__ import annotations

import os

from flask import Flask, jsonify, request

from berth_client import BerthError, Client

app = Flask(__name__)
berth = Client(os.environ.get("BERTH_URL", "http://127.0.0.1:8420"), os.environ.get("BERTH_TOKEN"))
IMAGE = os.environ.get("SCRIPT_IMAGE", "python:3.12-slim")
INTERPRETER = os.environ.get("SCRIPT_INTERPRETER", "python")


@app.post("/run")
def run():
    script = request.get_json(force=True).get("script", "")
    job = berth.submit(IMAGE, [INTERPRETER, "-c", script], timeouts={"run": "15m"},
                       labels={"app": "run-script"}, idempotency_key=request.headers.get("Idempotency-Key"))
    return jsonify(id=job.id, status=job.status), 202


@app.get("/status/<job_id>")
def status(job_id: str):
    job = berth.get(job_id)
    return jsonify(id=job.id, status=job.status, reason=job.reason, exit_code=job.exit_code,
                   output=berth.logs(job_id).decode("utf-8", "replace"))


@app.post("/stop/<job_id>")
def stop(job_id: str):
    return jsonify(status=berth.cancel(job_id).status)


@app.errorhandler(BerthError)
def berth_error(e: BerthError):
    return jsonify(error=e.message, field=e.field), e.status
