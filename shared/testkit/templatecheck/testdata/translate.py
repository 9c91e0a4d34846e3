"""Expand a SAM template to plain CloudFormation JSON on stdout, offline.

Usage: python translate.py TEMPLATE. Run with the project's .venv (aws-sam-translator comes
with the SAM CLI). CodeUri folders become placeholder S3 URIs, as `sam package` would make
them; no AWS call is made (a managed-policy lookup fails instead).
"""
import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicyLookups:
    def load(self):
        raise RuntimeError("the template names an AWS managed policy by name; that needs AWS")


def main(path):
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://packaged/" + props["CodeUri"]
    json.dump(transform(template, {}, NoManagedPolicyLookups()), sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
