#!/usr/bin/env python3
"""A loopback stand-in of SSM, WAFv2 and STS for the end-to-end test of vpc-proxy-ops
(`ops/tests/respond_moto.rs`): moto's server, which speaks the services' real wire protocols,
on a free port of 127.0.0.1, seeded with an allow-list parameter and two WAF IP sets.

It prints one JSON line when it is ready to serve (the test's readiness signal):
    {"endpoint": "http://127.0.0.1:PORT", "parameter": NAME, "v4_arn": ARN, "v6_arn": ARN}
and stops when its standard input closes (the test ending, however it ends).

    .venv/bin/python scripts/moto-standin.py --list-file allowed.txt
"""

import argparse
import json
import sys

import boto3
from moto.server import ThreadedMotoServer


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parameter", default="/vpc-proxy/allowed-ips")
    parser.add_argument("--list", default="# build agents\n10.0.0.0/24\n")
    args = parser.parse_args()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    creds = dict(
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    boto3.client("ssm", **creds).put_parameter(
        Name=args.parameter, Value=args.list, Type="String"
    )
    waf = boto3.client("wafv2", **creds)
    arns = {}
    for family, version in (("v4", "IPV4"), ("v6", "IPV6")):
        made = waf.create_ip_set(
            Name=f"vpc-proxy-block-{family}",
            Scope="REGIONAL",
            IPAddressVersion=version,
            Addresses=[],
        )
        arns[family] = made["Summary"]["ARN"]
    print(
        json.dumps(
            {
                "endpoint": endpoint,
                "parameter": args.parameter,
                "v4_arn": arns["v4"],
                "v6_arn": arns["v6"],
            }
        ),
        flush=True,
    )
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
