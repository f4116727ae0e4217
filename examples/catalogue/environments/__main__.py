"""The environments stack: registers `train` in a shared repository; each definition change is a new
version, and the labels in config (e.g. `pulumi config set --path labels[0] prod`) point at it; a
label taken out of the config is removed on the next `up` (unless someone moved it since).
`pulumi preview` says which version `up` will register (`version_plan`)."""

import os

import pulumi
import pulumi_mlenv as mlenv

config = pulumi.Config()
repository = config.get("repository") or "oci:.mlenv/catalogue"

train = mlenv.Environment(
    "train",
    file=os.path.join(os.path.dirname(__file__), "train.yml"),
    repository=repository,
    labels=config.get_object("labels") or [],
)

pulumi.export("repository", repository)
pulumi.export("image_ref", train.image_ref)
pulumi.export("version", train.version)
pulumi.export("labels", train.labels)
