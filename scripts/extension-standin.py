#!/usr/bin/env python3
"""A local stand-in for the AWS Parameters and Secrets Lambda Extension, to try vpc-proxy's
live configuration without AWS (`vpc-proxy local`).

It answers the extension's two requests from files, read on every request, so editing a file
is a new value (the parameter's Version counts the changes it has seen):

    GET /systemsmanager/parameters/get?name=NAME&withDecryption=true   -> GetParameter shape
    GET /secretsmanager/get?secretId=ID                                 -> GetSecretValue shape

Requests without the header `X-Aws-Parameters-Secrets-Token: $AWS_SESSION_TOKEN` get 401,
an unknown name 400, as the extension does. Standard library only.

    AWS_SESSION_TOKEN=local python3 scripts/extension-standin.py \\
        --port 2773 --parameter allowed-ips=./allowed.txt --secret headers=./headers.txt
"""

import argparse
import hashlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=2773)
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=FILE")
    parser.add_argument("--secret", action="append", default=[], metavar="ID=FILE")
    args = parser.parse_args()
    token = os.environ.get("AWS_SESSION_TOKEN", "")
    if not token:
        sys.exit("set AWS_SESSION_TOKEN (vpc-proxy sends it; use the same value for both)")
    parameters = dict(p.split("=", 1) for p in args.parameter)
    secrets = dict(s.split("=", 1) for s in args.secret)
    versions = {}  # file -> (digest, version)

    def version_of(path, text):
        digest = hashlib.sha256(text.encode()).hexdigest()
        old = versions.get(path)
        if old is None or old[0] != digest:
            versions[path] = (digest, (old[1] + 1) if old else 1)
        return versions[path][1]

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.headers.get("X-Aws-Parameters-Secrets-Token") != token:
                return self.answer(401, {"message": "missing or wrong token"})
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/systemsmanager/parameters/get":
                path = parameters.get(query.get("name", ""))
                if path is None:
                    return self.answer(400, {"__type": "ParameterNotFound"})
                text = open(path, encoding="utf-8").read()
                return self.answer(200, {"Parameter": {
                    "Name": query["name"], "Type": "StringList", "Value": text,
                    "Version": version_of(path, text), "DataType": "text"},
                    "ResultMetadata": {}})
            if url.path == "/secretsmanager/get":
                path = secrets.get(query.get("secretId", ""))
                if path is None:
                    return self.answer(400, {"__type": "ResourceNotFoundException"})
                text = open(path, encoding="utf-8").read()
                return self.answer(200, {
                    "Name": query["secretId"], "SecretString": text,
                    "VersionId": "local-%d" % version_of(path, text),
                    "VersionStages": ["AWSCURRENT"], "ResultMetadata": {}})
            return self.answer(404, {"message": "not found"})

        def log_message(self, fmt, *args):
            # The path only: never a value.
            sys.stderr.write("extension-standin: %s\n" % (fmt % args))

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("extension-standin: listening on 127.0.0.1:%d" % server.server_address[1], file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
