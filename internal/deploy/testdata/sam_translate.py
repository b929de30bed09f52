"""Translate a SAM template to CloudFormation with the AWS SAM translator,
offline, and print the result as JSON: what `sam deploy` would hand to
CloudFormation once the transform has run.

Usage: python3 sam_translate.py TEMPLATE [REGION]

Local CodeUri values become a placeholder S3 location (the translator only
accepts S3), as `sam package` would make them. No managed policy may be
named, since none can be looked up offline. Exit status 3 means the
translator is not installed; 1 that it refused the template.
"""
import json
import os
import sys

try:
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse
except ImportError as e:  # pragma: no cover - reported by the Go test
    print("the AWS SAM translator is not installed (pip install aws-sam-translator): %s" % e, file=sys.stderr)
    sys.exit(3)


class NoManagedPolicies:
    """Managed policy names cannot be resolved offline; the template names none."""

    def load(self):
        return {}


def main():
    path = sys.argv[1]
    os.environ["AWS_DEFAULT_REGION"] = sys.argv[2] if len(sys.argv) > 2 else "us-east-1"
    with open(path) as f:
        template = yaml_parse(f.read())
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://recall-sam-translate/" + resource.get("Type").replace(":", "")
    try:
        out = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(cause.message, file=sys.stderr)
        sys.exit(1)
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
