"""The examples, run as a user would, against the same server."""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))


def test_docker_run_gives_exit_code_stdout_stderr_and_duration(image):
    from docker_run import docker_run
    out = docker_run(image, ["sh", "-c", "echo to-out; echo to-err >&2; sleep 0.2; exit 5"])
    assert (out["status"], out["exit_code"], out["stdout"], out["stderr"]) == ("failed", 5, "to-out\n", "to-err\n")
    assert out["duration_s"] >= 0.2


def test_progress_follows_the_images_own_json_lines(image, capsys):
    from progress import run
    seen = run(image, {"input": "hello"}, os.environ["BERTH_URL"], os.environ.get("BERTH_TOKEN"))
    assert seen == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert "result {'ok': True}" in capsys.readouterr().out


def test_the_flask_app_runs_shows_and_stops_a_script(image, monkeypatch):
    pytest.importorskip("flask", reason="Flask is not installed (scripts/test installs it)")
    monkeypatch.setenv("SCRIPT_IMAGE", image)
    monkeypatch.setenv("SCRIPT_INTERPRETER", "sh")  # the test image has no python
    import importlib
    import flask_run_script
    web = importlib.reload(flask_run_script).app.test_client()
    r = web.post("/run", json={"script": "echo started; sleep 60"})
    assert r.status_code == 202, r.data
    job_id = r.get_json()["id"]
    for _ in range(100):
        shown = web.get(f"/status/{job_id}").get_json()
        if "started" in shown["output"]:
            break
        time.sleep(0.1)
    assert shown["status"] == "running", shown
    assert web.post(f"/stop/{job_id}").status_code == 200
    from berth_client import Client
    with Client(os.environ["BERTH_URL"], os.environ.get("BERTH_TOKEN")) as berth:
        assert berth.wait(job_id, timeout=60).status == "cancelled"
    again = web.post(f"/stop/{job_id}")
    assert again.status_code == 409 and again.get_json()["error"], "a finished job is not stopped again"
    missing = web.get("/status/" + "0" * 32)
    assert missing.status_code == 404 and missing.get_json()["error"], "berth's errors pass through"
