#!/usr/bin/env python3
"""Validates every example in an OpenAPI 3.1 document against the schema beside it (JSON
Schema 2020-12, `$ref`s into the document's components), and fails on an operation that
returns or takes a body without one. Usage: check-openapi-examples.py openapi.json"""
import json
import sys

import jsonschema

doc = json.load(open(sys.argv[1]))
problems, checked = [], 0


def check(where, content):
    global checked
    if "example" not in content:
        problems.append(f"{where}: no example")
        return
    if "schema" not in content:
        return
    schema = dict(content["schema"], components=doc["components"])
    example = content["example"]
    if isinstance(example, str) and content["schema"].get("type") != "string" and "$ref" in content["schema"]:
        problems.append(f"{where}: a string example for a structured schema")
        return
    for error in jsonschema.Draft202012Validator(schema).iter_errors(example):
        problems.append(f"{where}: {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message[:200]}")
    checked += 1


for path, item in doc["paths"].items():
    for method, op in item.items():
        for media, content in op.get("requestBody", {}).get("content", {}).items():
            check(f"{method.upper()} {path} request {media}", content)
        for status, response in op["responses"].items():
            if status.startswith("2"):
                for media, content in response.get("content", {}).items():
                    if media == "text/event-stream" or media.startswith("text/plain") or "octet" in media:
                        if "example" not in content:
                            problems.append(f"{method.upper()} {path} {status} {media}: no example")
                        continue
                    check(f"{method.upper()} {path} {status} {media}", content)

for p in problems:
    print(p, file=sys.stderr)
if problems:
    sys.exit(f"{len(problems)} problems with the OpenAPI examples")
print(f"openapi examples: {checked} validated against their schemas")
