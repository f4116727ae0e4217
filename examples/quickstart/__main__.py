"""Quickstart: one environment, its digest-pinned reference exported for jobs and other stacks."""

import os

import pulumi
import pulumi_mlenv as mlenv

here = os.path.dirname(__file__)
config = pulumi.Config()

env = mlenv.Environment(
    "quickstart",
    file=os.path.join(here, "environment.yml"),
    repository=config.get("repository") or "oci:.mlenv/images",
    registry_username=config.get("registryUsername"),
    registry_password=config.get_secret("registryPassword"),
)

pulumi.export("image_ref", env.image_ref)
pulumi.export("definition_hash", env.definition_hash)
pulumi.export("packages", env.packages)
