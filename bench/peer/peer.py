#!/usr/bin/env python3
"""The thread-pool peer: scans an AWS Organization's Config compliance the way
the old script's design would at scale, for side-by-side timing against local
mode (internal/testbed/benchlocal, `make bench-local`).

The design, kept as it is (it is the baseline, not something to tune):
- discovery: organizations list_accounts paginator as the ambient (hub)
  identity, ACTIVE accounts kept;
- a pool of N threads, one account each;
- per account: sts assume_role of the read role from the hub identity, a new
  boto3 Session from those credentials and a new config client per region,
  with adaptive retries (10 attempts);
- per region, every page of describe_config_rules and
  describe_compliance_by_config_rule, then every page of
  get_compliance_details_by_config_rule (NON_COMPLIANT, Limit 100) for each
  non-compliant rule.

It writes a JSON summary (accounts, findings, errors) so the harness can
check it scanned the whole org. Debian's python3-boto3 (1.26) predates
AWS_ENDPOINT_URL support (boto3 1.28), so the endpoint is passed to every
client explicitly; credentials and region come from the environment.
"""

import argparse
import concurrent.futures
import json
import os
import sys
import threading
import time

import boto3
import botocore.config

READ_ROLE = "system-config-report-generator-read-role"
RETRIES = botocore.config.Config(retries={"mode": "adaptive", "max_attempts": 10})


def pages(call, key, **kwargs):
    """Every page of a NextToken-paginated Config call: a page may be empty
    while NextToken is still set, so loop until the token is gone."""
    while True:
        out = call(**kwargs)
        yield out.get(key, [])
        token = out.get("NextToken")
        if not token:
            return
        kwargs["NextToken"] = token


def list_accounts(endpoint):
    org = boto3.client("organizations", endpoint_url=endpoint, config=RETRIES)
    accounts = []
    for page in org.get_paginator("list_accounts").paginate():
        accounts.extend(page["Accounts"])
    return accounts


def scan_region(session, endpoint, region):
    config = session.client("config", region_name=region, endpoint_url=endpoint, config=RETRIES)
    rules = 0
    for page in pages(config.describe_config_rules, "ConfigRules"):
        rules += len(page)
    noncompliant = []
    for page in pages(config.describe_compliance_by_config_rule, "ComplianceByConfigRules"):
        for c in page:
            if c.get("Compliance", {}).get("ComplianceType") == "NON_COMPLIANT":
                noncompliant.append(c["ConfigRuleName"])
    findings = 0
    for name in noncompliant:
        for page in pages(config.get_compliance_details_by_config_rule, "EvaluationResults",
                          ConfigRuleName=name, ComplianceTypes=["NON_COMPLIANT"], Limit=100):
            findings += len(page)
    return rules, findings


def scan_account(sts, endpoint, account_id, regions):
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{READ_ROLE}",
        RoleSessionName=f"peer-{account_id}",
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    rules = findings = 0
    errors = []
    for region in regions:
        try:
            r, f = scan_region(session, endpoint, region)
            rules += r
            findings += f
        except Exception as e:  # one region failing must not hide the others
            errors.append({"account": account_id, "region": region, "error": f"{type(e).__name__}: {e}"})
    return rules, findings, errors


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=20)
    p.add_argument("--regions", default="us-east-1,ap-east-1")
    p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"))
    p.add_argument("--summary", required=True, help="JSON summary written here")
    args = p.parse_args()
    regions = [r for r in args.regions.split(",") if r]
    start = time.monotonic()

    listed = list_accounts(args.endpoint)
    active = sorted(a["Id"] for a in listed if a["Status"] == "ACTIVE")
    # boto3 clients are thread-safe (Sessions are not): one hub STS client
    # serves every thread, as in the old script.
    sts = boto3.client("sts", endpoint_url=args.endpoint, config=RETRIES)

    scanned, errors = [], []
    rules = findings = 0
    lock = threading.Lock()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.threads) as pool:
        futures = {pool.submit(scan_account, sts, args.endpoint, a, regions): a for a in active}
        for fut in concurrent.futures.as_completed(futures):
            account = futures[fut]
            try:
                r, f, errs = fut.result()
            except Exception as e:
                errs, r, f = [{"account": account, "region": "", "error": f"{type(e).__name__}: {e}"}], 0, 0
            with lock:
                rules += r
                findings += f
                errors.extend(errs)
                if not errs:
                    scanned.append(account)

    summary = {
        "accounts_listed": len(listed),
        "accounts_active": len(active),
        "accounts_scanned": len(scanned),
        "scanned": sorted(scanned),
        "regions": regions,
        "threads": args.threads,
        "rules": rules,
        "findings": findings,
        "errors": errors,
        "wall_seconds": round(time.monotonic() - start, 3),
        "boto3": boto3.__version__,
    }
    with open(args.summary, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"peer: {len(scanned)}/{len(active)} accounts, {findings} findings, "
          f"{len(errors)} errors, {summary['wall_seconds']} s", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
