"""The training stack: runs on whatever version of `train` carries the `prod` label. It finds the
repository through a StackReference to the environments stack and the version through
`get_environment`, so moving the label (mlenv label REPO train:3 prod) moves this stack on its next up."""

import pulumi
import pulumi_mlenv as mlenv

config = pulumi.Config()
environments = pulumi.StackReference(config.get("environmentsStack") or "organization/mlenv-environments/dev")
label = config.get("label") or "prod"

prod = mlenv.get_environment_output(environments.get_output("repository"), "train", label=label)

pulumi.export("training_image", prod.apply(lambda found: found.image_ref))
pulumi.export("training_version", prod.apply(lambda found: found.version))
pulumi.export("environments_latest", environments.get_output("image_ref"))
